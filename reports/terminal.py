"""What ``rai-audit`` prints: the summary of a run and the table of a diff.

Like the file renderers, these read only result types; the CLI chooses the console (standard
output, or a test's buffer) and whether to print at all.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from audit.core.check_knowledge import in_words
from audit.core.comparison import Comparison, FindingChange, MetricChange
from audit.core.result import AuditResult


def _add_row(table: Table, *cells: str) -> None:
    """Cells as plain text: group and column names come from the data and may hold what rich
    would read as markup, such as "[/]"."""
    table.add_row(*(Text(cell) for cell in cells))


def _words(text: str, column: str) -> list[str]:
    return [text] if column == "interval" else text.split()


def render_summary(
    console: Console,
    result: AuditResult,
    written: list[Path],
    comparison: Comparison | None = None,
) -> None:
    """The summary of ``rai-audit run``: disparities, findings, checks that did not run, the
    files written and the gate's verdict (against ``comparison``'s baseline when given)."""
    text = result.text
    if text is not None and not result.run.data.sensitive:
        # A text audit without sensitive columns has no disparity table: its groups live in
        # the texts, so say how the model does and how much the identity probes had to go on.
        pairs = sum(pair.status == "ok" for pair in text.counterfactual.pairs)
        mentioned = sum(group.rows > 0 for group in text.identity.groups)
        auc = text.performance.roc_auc
        console.print(
            f"Text model: accuracy {text.performance.accuracy:.3f}"
            f"{'' if auc is None else f', ROC AUC {auc:.3f}'} on {text.performance.rows} texts",
            markup=False,
            highlight=False,
        )
        console.print(
            f"Identity groups: {mentioned} of {len(text.identity.groups)} mentioned in "
            f"{text.identity.rows_with_terms} texts; counterfactual pairs: {pairs} measured of "
            f"{len(text.counterfactual.pairs)}",
            markup=False,
            highlight=False,
        )
    else:
        table = Table(title="Disparities judged by the policy", show_lines=False)
        rows = []
        for disparity in result.disparities:
            if disparity.comparison != result.run.config["compare"]:
                continue
            value = "undefined" if disparity.value is None else f"{disparity.value:.3f}"
            interval = (
                "–" if disparity.ci is None else f"[{disparity.ci[0]:.3f}, {disparity.ci[1]:.3f}]"
            )
            # Words, not identifiers, so that a narrow terminal wraps between them.
            groups = " vs ".join(" / ".join(group) for group in disparity.groups)
            metric = in_words(disparity.metric)
            rows.append((" × ".join(disparity.feature), metric, value, interval, groups))
        for position, column in enumerate(("feature", "metric", "value", "interval", "groups")):
            # Each column at least as wide as its longest word: wrapped, never cut mid-word
            # (an interval is one unit).
            longest = max(
                (len(word) for row in rows for word in _words(row[position], column)),
                default=len(column),
            )
            table.add_column(column, overflow="fold", min_width=max(len(column), longest))
        for row in rows:
            _add_row(table, *row)
        console.print(table)
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
    console.print(
        "Findings: " + (", ".join(f"{count} {name}" for name, count in counts.items()) or "none")
    )
    for check in result.checks:
        if check.status.value not in ("ok", "skipped"):
            console.print(f"Check {check.id} {check.status.value}: {check.reason}", markup=False)
    inapplicable = {check.id for check in result.inapplicable}
    skipped = [
        check.id
        for check in result.checks
        if check.status.value == "skipped" and check.id not in inapplicable
    ]
    if skipped:
        # One line: a text audit skips many tabular checks; their reasons are in the report.
        console.print(
            f"Checks {', '.join(skipped)}: skipped (see the report's checks)",
            markup=False,
            highlight=False,
        )
    for path in written:
        console.print(f"Wrote {path}", markup=False, highlight=False)
    if comparison is not None:
        render_baseline_verdict(console, result, comparison)
        return
    if result.gate.passed:
        console.print(f"Gate passed (fail_on={result.gate.fail_on}).", markup=False)
    else:
        console.print(
            f"Gate failed: {len(result.gate.violations)} finding(s) at or above "
            f"{result.gate.fail_on}:",
            markup=False,
        )
        for violation in result.gate.violations:
            console.print(f"  {violation.reason}", markup=False, highlight=False)


def render_baseline_verdict(console: Console, result: AuditResult, comparison: Comparison) -> None:
    """The regression gate's verdict of a ``--baseline`` run, with what changed since it."""
    gate = result.gate
    if gate.baseline is None:
        raise ValueError("a baseline verdict needs a result gated against a baseline")
    for warning in comparison.warnings:
        console.print(f"Warning: {warning}", markup=False, highlight=False)
    console.print(
        f"Against the baseline {gate.baseline.path}: {_finding_counts(comparison)}.",
        markup=False,
        highlight=False,
    )
    if gate.passed:
        carried = (
            f"; {gate.carried} finding(s) at or above it were already in the baseline"
            if gate.carried
            else ""
        )
        console.print(
            f"Gate passed: no new or worsened finding at or above {gate.fail_on}{carried}.",
            markup=False,
        )
        return
    console.print(
        f"Gate failed: {len(gate.violations)} new or worsened finding(s) at or above "
        f"{gate.fail_on}:",
        markup=False,
    )
    for violation in gate.violations:
        console.print(f"  {violation.reason}", markup=False, highlight=False)


def _finding_counts(comparison: Comparison) -> str:
    return (
        f"{len(comparison.new)} new, {len(comparison.resolved)} resolved, "
        f"{len(comparison.worsened)} worsened, {len(comparison.improved)} improved and "
        f"{comparison.unchanged} unchanged finding(s)"
    )


def _severity_change(change: FindingChange) -> str:
    return f"{change.baseline_severity or '–'} → {change.current_severity or '–'}"


def _interval_text(value: float, interval: tuple[float, float]) -> str:
    return f"{value:.3f}\n[{interval[0]:.3f}, {interval[1]:.3f}]"


def _metric_slice(change: MetricChange) -> str:
    feature = " × ".join(change.feature)
    if change.group is not None:
        return f"{feature} = {'/'.join(change.group)}"
    return feature if change.comparison == "between_groups" else f"{feature} (vs reference)"


def _metric_table(title: str, shifts: list[MetricChange]) -> Table:
    table = Table(title=title)
    for column in ("slice", "metric", "baseline", "current", "change"):
        # An interval, "[0.119, 0.200]", reads wrongly when broken over lines.
        table.add_column(column, overflow="fold", no_wrap=column in ("baseline", "current"))
    for shift in shifts:
        verdict = (
            shift.direction
            if shift.assessment == "neutral"
            else f"{shift.assessment} ({shift.direction})"
        )
        _add_row(
            table,
            _metric_slice(shift),
            in_words(shift.metric),
            _interval_text(shift.baseline_value, shift.baseline_interval),
            _interval_text(shift.current_value, shift.current_interval),
            verdict,
        )
    return table


def render_diff(console: Console, comparison: Comparison, out: Path | None) -> None:
    """The table of ``rai-audit diff``: both runs, the findings and metrics that changed and
    the verdict; ``out`` is the JSON diff's file, when one was written."""
    for side, name in ((comparison.baseline, "Baseline"), (comparison.current, "Current")):
        report = side.report.path if side.report else "(this run)"
        model = side.model_file.path if side.model_file else side.model_kind
        console.print(
            f"{name}: {report} (model {model}, data {side.data_file.path}, {side.started_at})",
            markup=False,
            highlight=False,
        )
    for warning in comparison.warnings:
        console.print(f"Warning: {warning}", markup=False, highlight=False)
    groups = (
        ("new", comparison.new),
        ("worsened", comparison.worsened),
        ("resolved", comparison.resolved),
        ("improved", comparison.improved),
    )
    if any(changes for _, changes in groups):
        table = Table(title="Findings that changed")
        for column in ("change", "severity", "gate", "finding"):
            table.add_column(column, overflow="fold", no_wrap=column != "finding")
        for label, changes in groups:
            for change in changes:
                _add_row(
                    table,
                    label,
                    _severity_change(change),
                    "fails" if change.regression else "",
                    change.title,
                )
        console.print(table)
    disparities = [shift for shift in comparison.metric_changes if shift.scope == "disparity"]
    # The worse changes first: they are what fails the diff.
    disparities.sort(key=lambda shift: shift.assessment != "worse")
    group_metrics = [shift for shift in comparison.metric_changes if shift.scope == "group"]
    for title, shifts in (
        ("Disparities changed beyond their intervals", disparities),
        (
            "Group metrics changed beyond their intervals (neither better nor worse alone)",
            group_metrics,
        ),
    ):
        if shifts:
            console.print(_metric_table(title, shifts))
    console.print(f"Findings: {_finding_counts(comparison)}.", markup=False)
    console.print(
        f"Metrics: {len(comparison.metric_changes)} of {comparison.metrics_compared} changed "
        f"beyond their intervals ({len(comparison.worse_metrics)} disparities worse); "
        f"{comparison.metrics_not_judged} without an interval in one run were not judged.",
        markup=False,
    )
    if out is not None:
        console.print(f"Wrote {out}", markup=False, highlight=False)
    if comparison.got_worse:
        console.print(
            f"Worse than the baseline: {len(comparison.regressions)} new or worsened finding(s) "
            f"at or above {comparison.fail_on}, {len(comparison.worse_metrics)} disparity "
            "change(s) for the worse.",
            markup=False,
        )
    else:
        console.print("Nothing got worse than the baseline.", markup=False)


__all__ = ["render_baseline_verdict", "render_diff", "render_summary"]
