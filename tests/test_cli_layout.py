"""The CLI stays thin: it parses options and prints; reports/terminal.py renders what it prints.

An option lands in one of the --help panels, the terminal renderers live beside the other
renderers and read only result types, and ``run`` reads as request, audit, outputs, verdict.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

import typer
from typer.core import TyperGroup, TyperOption
from typer.testing import CliRunner

import audit.cli
from audit.cli import app

REPO = Path(__file__).resolve().parents[1]
PANELS = ("Model", "Data", "Policy", "Outputs", "Engine")
# What a renderer may import from the engine: the types of a finished result.
RESULT_TYPES = {
    "audit.core.result",
    "audit.core.findings",
    "audit.core.serialize",
    "audit.core.comparison",
    # The checks' wording (metric ids in words), read from data files: no computation.
    "audit.core.check_knowledge",
    "audit.explain.results",
    "audit.text.results",
}
ML_LIBRARIES = {"torch", "sklearn", "fairlearn", "scipy", "captum", "shap", "numpy", "pandas"}
LONGEST_RUN_BODY = 40


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_run_help_shows_the_five_panels() -> None:
    result = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    shown = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    titles = re.findall(r"^(\w+):$", shown, re.MULTILINE)
    assert [title for title in titles if title in PANELS] == list(PANELS)


def test_every_option_of_run_and_diff_sits_in_a_panel() -> None:
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    for name in ("run", "diff"):
        for param in group.commands[name].params:
            if isinstance(param, TyperOption):
                assert param.rich_help_panel in PANELS, (name, param.name)


def test_the_terminal_renderers_live_in_reports() -> None:
    defined = {
        node.name
        for node in ast.walk(ast.parse((REPO / "audit" / "cli.py").read_text("utf-8")))
        if isinstance(node, ast.FunctionDef)
    }
    assert not {name for name in defined if name.startswith(("_summary", "_diff_table"))}
    from reports import terminal

    assert callable(terminal.render_summary) and callable(terminal.render_diff)


def test_the_terminal_renderer_reads_only_result_types() -> None:
    imported = _imported(REPO / "reports" / "terminal.py")
    assert not {name.split(".")[0] for name in imported} & ML_LIBRARIES
    engine = {name for name in imported if name.split(".")[0] == "audit"}
    assert engine and engine <= RESULT_TYPES, engine - RESULT_TYPES


def test_run_reads_as_request_audit_outputs_verdict() -> None:
    source = textwrap.dedent(inspect.getsource(audit.cli.run))
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef) and function.end_lineno is not None
    body = function.body[1:] if ast.get_docstring(function) else function.body
    assert function.end_lineno - body[0].lineno + 1 <= LONGEST_RUN_BODY
