"""The terminal summary at a CI log's 80 columns: wrapped between words, never inside one."""

from __future__ import annotations

import io

import pytest
from conftest import adult_request
from rich.console import Console

from audit.api import run_audit
from audit.core.registry import CHECKS
from reports.terminal import render_summary

FAIRNESS_CHECKS = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))


@pytest.mark.parametrize("width", [80, 120])
def test_no_word_is_cut_at_the_terminal_width(width: int) -> None:
    result = run_audit(adult_request(n_boot=20), FAIRNESS_CHECKS)
    output = io.StringIO()
    render_summary(Console(file=output, width=width, soft_wrap=True), result, [])
    # The table's lines; the findings below it are soft-wrapped by the terminal itself.
    lines = [line for line in output.getvalue().splitlines() if line[:1] in "┏┃┡│└"]
    assert lines and max(len(line) for line in lines) <= width
    table = "\n".join(lines)
    shown = [d for d in result.disparities if d.comparison == result.run.config["compare"]]
    words = {
        word
        for disparity in shown
        for group in disparity.groups
        for label in group
        for word in label.split()
    } | {word for disparity in shown for word in disparity.metric.split("_")}
    assert "Amer-Indian-Eskimo" in words
    for word in words:
        assert word in table, word  # a word cut over two lines would be missing


def test_text_checks_of_a_tabular_audit_are_not_called_skipped() -> None:
    result = run_audit(adult_request(n_boot=20), CHECKS)
    text_checks = {check.id for check in CHECKS if check.id.startswith("text.")}
    assert {check.id for check in result.inapplicable} == text_checks
    output = io.StringIO()
    render_summary(Console(file=output, width=200), result, [])
    printed = output.getvalue()
    assert "privacy.membership_inference" in printed  # a real skip: no --train-data
    assert not any(check in printed for check in text_checks)
    from reports.html_report import HtmlFormatter

    html = HtmlFormatter().render(result)
    assert f"the {len(text_checks)} text checks apply to text models only" in html
