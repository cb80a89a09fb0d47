"""The bundled examples' reports, every format, byte for byte against a recorded copy.

A refactoring of the engine must not change a single byte of what users get. The recorded
copies (tests/fixtures/golden/) were written by this test with ``RAI_AUDIT_UPDATE_GOLDEN=1``;
rewrite them that way only for a deliberate change of output, and say so in CHANGELOG.md.

Two things vary between runs of the same audit and are pinned here: the date (by
SOURCE_DATE_EPOCH, as a user pins it) and wall-clock durations (``time.perf_counter`` stands
still). The command line is the test's own, its output folder's name replaced by OUT.
Results depend on the numerical libraries, so the comparison is made only with the versions
the copies were recorded with; another version skips it with a reason.
"""

from __future__ import annotations

import difflib
import gzip
import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit.cli import app

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "fixtures" / "golden"
FORMATS = "json,html,markdown,junit,sarif,model-card"
# The libraries whose arithmetic or version strings reach the reports.
LIBRARIES = ("numpy", "pandas", "scipy", "scikit-learn", "fairlearn", "torch", "shap", "captum")
EXAMPLES = {
    "adult": (
        "examples/adult/model.pt",
        "examples/adult/test.csv.gz",
        "--target",
        "income",
        "--sensitive",
        "sex,race",
    ),
    "sentiment": (
        "examples/sentiment/model.pt",
        "examples/sentiment/test.csv.gz",
        "--text-column",
        "text",
        "--target",
        "label",
    ),
}
UPDATE = os.environ.get("RAI_AUDIT_UPDATE_GOLDEN") == "1"


def _installed() -> dict[str, str]:
    return {name: version(name) for name in LIBRARIES}


def _audit(example: str, out: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.chdir(ROOT)  # the recorded command names the example by its relative path
    monkeypatch.setattr(time, "perf_counter", lambda: 0.0)
    arguments = [
        "run",
        *EXAMPLES[example],
        "--out",
        str(out),
        "--format",
        FORMATS,
        "--threads",
        "1",
        "--quiet",
    ]
    monkeypatch.setattr(sys, "argv", ["rai-audit", *arguments])  # the recorded command
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code in (0, 1), result.output
    return {
        path.name: path.read_bytes().replace(str(out).encode(), b"OUT")
        for path in sorted(out.iterdir())
    }


def _first_difference(name: str, recorded: bytes, produced: bytes) -> str:
    lines = difflib.unified_diff(
        recorded.decode("utf-8", "replace").splitlines(),
        produced.decode("utf-8", "replace").splitlines(),
        f"recorded {name}",
        f"produced {name}",
        n=1,
        lineterm="",
    )
    return "\n".join(list(lines)[:20])


@pytest.mark.slow
@pytest.mark.parametrize("example", sorted(EXAMPLES))
def test_example_reports_are_byte_identical(
    example: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = GOLDEN / example
    manifest = folder / "versions.json"
    if not UPDATE:
        recorded_versions = json.loads(manifest.read_text("utf-8"))
        if recorded_versions != _installed():
            pytest.skip(
                f"{manifest.relative_to(ROOT)} was recorded with {recorded_versions}, installed "
                f"are {_installed()}: rerun with RAI_AUDIT_UPDATE_GOLDEN=1 on a known-good commit"
            )
    produced = _audit(example, tmp_path / "out", monkeypatch)
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.gz"):
            stale.unlink()
        for name, content in produced.items():
            # mtime=0: the recorded copy itself is reproducible.
            (folder / f"{name}.gz").write_bytes(gzip.compress(content, mtime=0))
        manifest.write_text(json.dumps(_installed(), indent=2) + "\n", "utf-8")
        return
    recorded = {
        path.name.removesuffix(".gz"): gzip.decompress(path.read_bytes())
        for path in folder.glob("*.gz")
    }
    assert sorted(produced) == sorted(recorded)
    for name, content in produced.items():
        assert content == recorded[name], _first_difference(name, recorded[name], content)
