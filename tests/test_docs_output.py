"""The terminal output shown in docs/getting-started.md is the demo's real output.

Each line of the documented block, except the elisions ("..."), must appear in what the
demo command prints at 100 columns, in the same order; when the program's wording or the
example's numbers change, this test fails until the page is updated.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import audit.cli

REPO = Path(__file__).resolve().parents[1]
PAGE = REPO / "docs" / "getting-started.md"
DEMO = [
    "run",
    "examples/adult/model.pt",
    "examples/adult/test.csv.gz",
    *("--target", "income", "--sensitive", "sex,race", "--out", "audit-out/"),
]


def documented_summary() -> list[str]:
    page = PAGE.read_text("utf-8")
    block = re.search(r"## Reading the terminal summary\n\n```text\n(.*?)```", page, re.S)
    assert block is not None, "the page lost its terminal summary"
    return [line for line in block.group(1).splitlines() if "..." not in line]


@pytest.mark.slow
def test_getting_started_shows_what_the_demo_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(audit.cli, "out_console", Console(width=100, soft_wrap=True))
    out = tmp_path / "audit-out"
    result = CliRunner().invoke(audit.cli.app, [*DEMO[:-1], str(out)])
    assert result.exit_code == 1, result.output
    printed = result.stdout.replace(str(out), "audit-out").splitlines()
    position = 0
    for line in documented_summary():
        assert line in printed[position:], f"not printed (in this order): {line!r}"
        position = printed.index(line, position) + 1
