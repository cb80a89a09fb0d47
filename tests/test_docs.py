"""The reference docs name every option, policy key and threshold, so they cannot drift from the
code again: a new flag or key fails here until docs/cli.md or docs/configuration.md has it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import typer
from conftest import shipped_check_files
from typer.core import TyperGroup, TyperOption

from audit.cli import app
from audit.core.registry import CHECKS
from reports import available_formatters

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
DEFAULTS = tomllib.loads(
    (REPO / "audit" / "knowledge" / "policy_defaults.toml").read_text(encoding="utf-8")
)
CHECK_TABLE = shipped_check_files()


def _doc(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


def _options(command_name: str) -> list[str]:
    """Every long and short flag of one subcommand, as click parses them (not the help text,
    whose wrapping and styling vary)."""
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    command = group.commands[command_name]
    flags = [
        flag
        for param in command.params
        if isinstance(param, TyperOption)
        for flag in (*param.opts, *param.secondary_opts)
    ]
    return sorted(set(flags) - {"--help"})


def _mentioned(flag: str, text: str) -> bool:
    # A flag counts when it stands alone in code (`--out`), not as the prefix of a longer one
    # (`--explain` inside `--explain-samples`).
    return re.search(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", text) is not None


def test_the_cli_has_the_options_the_docs_are_checked_against() -> None:
    run = _options("run")
    diff = _options("diff")
    # Guards the introspection itself: these must be found, or the tests below check nothing.
    for flag in ("--target", "--baseline", "--train-data", "--explain", "--no-explain", "-q"):
        assert flag in run
    assert {"--format", "-f", "--out", "-o", "--debug", "--no-debug"} <= set(diff)


@pytest.mark.parametrize("command_name", ["run", "diff"])
def test_cli_md_names_every_option(command_name: str) -> None:
    text = _doc("cli.md")
    missing = [flag for flag in _options(command_name) if not _mentioned(flag, text)]
    assert missing == [], f"docs/cli.md lacks {command_name} options {missing}"


def test_cli_md_documents_the_diff_command_and_every_format() -> None:
    text = _doc("cli.md")
    assert "## `rai-audit diff`" in text
    assert "rai-audit diff [OPTIONS] BASELINE CURRENT" in text
    formats = sorted(available_formatters())
    assert {"json", "html", "markdown", "junit", "sarif", "model-card"} <= set(formats)
    missing = [name for name in formats if f"`{name}`" not in text]
    assert missing == []


def test_configuration_md_names_every_top_level_key_with_its_default() -> None:
    text = _doc("configuration.md")
    keys = sorted(DEFAULTS)
    assert {"min_group_size", "thresholds", "text", "accountability"} <= set(keys)
    for key in keys:
        value = DEFAULTS[key]
        if isinstance(value, dict):
            assert f"`[{key}]`" in text or f"`[{key}.METRIC]`" in text, key
            continue
        shown = f'"{value}"' if isinstance(value, str) else str(value).lower()
        # The keys table row: | `key` | `default` | ...
        assert re.search(rf"\| `{key}` \| `{re.escape(shown)}` \|", text), key


def test_configuration_md_lists_every_threshold_with_its_defaults() -> None:
    text = _doc("configuration.md")
    thresholds = DEFAULTS["thresholds"]
    assert len(thresholds) >= 20
    for name, entry in thresholds.items():
        (bound,) = [side for side in ("min", "max") if side in entry]
        # A threshold that only classifies (explain_encoded_copy) has no critical level.
        critical = f"`{entry['critical']}`" if "critical" in entry else "none"
        row = rf"\| `{name}` \| [^|]+ \| `{bound} = {entry[bound]}` \| {critical} \|"
        assert re.search(row, text), f"docs/configuration.md: no row for threshold {name}"


def test_configuration_md_lists_every_text_key_with_its_default() -> None:
    text = _doc("configuration.md")
    keys = {**DEFAULTS["text"], "adverse_label": None}  # commented out: no default value
    for key, value in keys.items():
        match = re.search(rf"\| `text\.{key}` \| ([^|]+) \|", text)
        assert match is not None, key
        if value is not None:
            shown = str(value).replace("'", '"')
            assert match.group(1).strip() == f"`{shown}`", key


def test_every_registered_check_has_a_one_sentence_description() -> None:
    for check in CHECKS:
        description = CHECK_TABLE[check.id]["description"]
        assert description.endswith(".") and description.count(". ") == 0, check.id
        assert len(description) > 40, check.id
