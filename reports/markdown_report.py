"""report.md: the audit in a page of GitHub-flavoured Markdown, for a pull-request comment or a
CI job summary; and the Markdown escaping that every Markdown output here shares.

Markdown has no autoescape of its own, so the environment below supplies one: every value a
template inserts is escaped as text unless a filter has already turned it into Markdown
(``MarkdownSafe``). Column and group names go into code spans, where no link, mention, HTML or
emphasis can form; a pipe inside a table cell is escaped so that it cannot split the cell.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jinja2 import Environment, FunctionLoader, StrictUndefined

from audit.core.check_knowledge import in_words
from audit.core.findings import Finding, Role, Severity, beyond
from audit.core.result import AuditResult, CheckStatus, Disparity, GroupResult, GroupStatus
from audit.mitigation.results import Method, WhatIf
from reports.significance import significance_note

# GitHub refuses a comment over 65,536 characters; the rest is room for a CI step's own header.
MAX_CHARS = 60_000
# What a pull-request comment should stay under, in UTF-8 bytes (under 4 KiB): the lists in
# the details block shrink (the JSON report keeps every row) until it does.
COMMENT_BYTES = 4_000
# Names longer than this are shortened in the summary (never in the model card).
SUMMARY_NAME_LIMIT = 80
# Gate violations shown first, each with what its accountable role must do.
ACT_FIRST = 3
SUMMARY_METRICS = (
    "selection_rate",
    "true_positive_rate",
    "false_positive_rate",
    "accuracy",
    "calibration_error",
)
METRIC_ABBREVIATIONS = {
    "true_positive_rate": "TPR",
    "false_positive_rate": "FPR",
    "false_negative_rate": "FNR",
    "calibration_error": "ECE",
}
SEVERITIES = tuple(sorted(Severity, key=lambda severity: -severity.rank))  # most severe first


class MarkdownSafe(str):
    """Text that is already Markdown: the environment inserts it unchanged."""


# Whitespace that would end a table row or start a new block becomes one space; other control
# characters become U+FFFD, visibly.
_LINE_BREAKS = re.compile(r"[\t\n\v\f\r\u0085\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f]")
# Characters that start emphasis, code, links, HTML, entities, tables, strikethrough, math,
# headings, issue references or mentions in GitHub-flavoured Markdown.
_SIGNIFICANT = re.compile(r"([\\`*_\[\]<>|~&#@$])")
# GitHub turns "www.x" and "scheme://x" into links even without brackets.
_AUTOLINK = re.compile(r"(?i)(?<=www)\.|:(?=//)")


def one_line(text: str) -> str:
    return _CONTROL.sub("\ufffd", _LINE_BREAKS.sub(" ", text))


def shorten(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[: limit - 1] + "…"


def md_text(text: str) -> MarkdownSafe:
    """``text`` as literal Markdown text: every significant character backslash-escaped."""
    if isinstance(text, MarkdownSafe):
        return text
    escaped = _SIGNIFICANT.sub(r"\\\1", one_line(str(text)))
    return MarkdownSafe(_AUTOLINK.sub(lambda match: "\\" + match.group(0), escaped))


def md_code(text: str, *, in_table: bool, limit: int | None = None) -> MarkdownSafe:
    """``text`` as a code span; in a table cell its pipes are escaped, as GFM requires there."""
    content = shorten(one_line(str(text)), limit)
    if not content:
        return MarkdownSafe("(empty)")
    if in_table:
        content = content.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", content)), default=0)
    fence = "`" * (longest + 1)
    # A code span loses one leading and one trailing space, and a backtick next to the fence
    # would join it: pad in both cases so the content survives as written.
    padded = (
        content.startswith("`")
        or content.endswith("`")
        or (content.startswith(" ") and content.endswith(" ") and content.strip() != "")
    )
    pad = " " if padded else ""
    return MarkdownSafe(f"{fence}{pad}{content}{pad}{fence}")


def md_join(items: Iterable[Any], separator: str = ", ") -> MarkdownSafe:
    return MarkdownSafe(md_text(separator).join(md_text(item) for item in items))


def number(value: float | None) -> MarkdownSafe:
    return MarkdownSafe("undefined" if value is None else f"{value:.3f}")


def interval(ci: tuple[float, float] | list[float] | None) -> MarkdownSafe:
    return MarkdownSafe("–" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]")


def count(value: int) -> MarkdownSafe:
    return MarkdownSafe(f"{value:,}")


def label(parts: Iterable[str]) -> str:
    """A group of an intersection as one name: ``Female / Black``."""
    return " / ".join(parts)


def slice_label(feature: Iterable[str]) -> str:
    """A slice as one name: ``sex × race``."""
    return " × ".join(feature)


def bound_text(bound: str | None, limit: float | None) -> MarkdownSafe:
    if limit is None:
        return MarkdownSafe("–")
    side = {"min": "minimum", "max": "maximum"}.get(bound or "", "limit")
    return MarkdownSafe(f"{side} {limit:.3f}")


def _finalize(value: Any) -> str:
    if isinstance(value, MarkdownSafe):
        return value
    if isinstance(value, str):
        return md_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    # A float or None reaching the page unformatted is a template bug: say so in the test.
    raise TypeError(f"format {value!r} with a filter (num, interval, count) before inserting it")


def _load_template(name: str) -> str:
    return resources.files("templates").joinpath(name).read_text("utf-8")


@functools.cache  # compiled templates are kept for the next report
def markdown_environment(name_limit: int | None = None) -> Environment:
    """Jinja2 for Markdown: no HTML autoescape, but every value escaped as Markdown text unless
    a filter made it Markdown already."""
    env = Environment(
        loader=FunctionLoader(_load_template),
        autoescape=False,
        undefined=StrictUndefined,
        finalize=_finalize,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["code"] = lambda text: md_code(text, in_table=False, limit=name_limit)
    env.filters["cell"] = lambda text: md_code(text, in_table=True, limit=name_limit)
    env.filters["text"] = md_text
    env.filters["num"] = number
    env.filters["interval"] = interval
    env.filters["count"] = count
    env.filters["words"] = in_words
    env.filters["label"] = label
    env.filters["slice"] = slice_label
    env.filters["mjoin"] = md_join
    env.filters["bound"] = bound_text
    return env


# --- views shared by the Markdown outputs -------------------------------------------------------


def judged_disparities(result: AuditResult) -> list[Disparity]:
    """The disparities the policy judges: its comparison, metrics that have a threshold."""
    compare = result.run.config.get("compare")
    thresholds = result.run.config.get("thresholds", {})
    return [d for d in result.disparities if d.comparison == compare and d.metric in thresholds]


def threshold_of(result: AuditResult, metric: str) -> tuple[str | None, float | None]:
    entry = result.run.config.get("thresholds", {}).get(metric) or {}
    if entry.get("min") is not None:
        return "min", float(entry["min"])
    if entry.get("max") is not None:
        return "max", float(entry["max"])
    return None, None


def violated(bound: str | None, limit: float | None, value: float | None) -> bool:
    if bound is None or limit is None or value is None:
        return False
    return beyond(value, limit, bound)


def violation_ids(result: AuditResult) -> set[str]:
    return {violation.finding for violation in result.gate.violations}


def seriousness(finding: Finding, failing: set[str]) -> tuple[int, bool, bool, float, str]:
    """Sort key, most serious first: severity, gate violation, clear of noise, distance past
    the threshold relative to it."""
    evidence = finding.evidence
    excess = 0.0
    if evidence.value is not None and evidence.threshold is not None:
        excess = abs(evidence.value - evidence.threshold) / max(abs(evidence.threshold), 1e-9)
    return (
        -finding.severity.rank,
        finding.id not in failing,
        evidence.statistically_clear is not True,
        -excess,
        finding.fingerprint,
    )


def describe(finding: Finding, *, name_limit: int | None = None) -> MarkdownSafe:
    """What a finding says, in words, with its names in code spans (never its raw title)."""
    evidence = finding.evidence
    if not evidence.feature:
        return md_text(finding.title)
    feature = md_code(slice_label(evidence.feature), in_table=False, limit=name_limit)
    groups = md_join(
        [md_code(label(group), in_table=False, limit=name_limit) for group in evidence.groups],
        " vs ",
    )
    if evidence.threshold is None:
        # Nothing was measured against a bound (e.g. a column that holds personal data): the
        # finding's own sentence says it better than "pii share of race is 0.000".
        return md_text(finding.title)
    text = f"{md_text(in_words(evidence.metric))} of {feature} is {number(evidence.value)}"
    if evidence.interval is not None:
        text += f" {interval(evidence.interval)}"
    if evidence.threshold is not None:
        text += f" ({bound_text(evidence.bound, evidence.threshold)})"
    if evidence.groups:
        text += f"; groups {groups}"
    text += md_text(significance_note(evidence))
    if finding.related_evidence:
        text += f"; and {len(finding.related_evidence)} more measurement(s) of this cause"
    return MarkdownSafe(text)


def role_names(result: AuditResult) -> dict[Role, str]:
    return {info.role: info.name for info in result.knowledge.roles}


def generic_recommendation(result: AuditResult, check: str) -> str:
    """A check's recommendation in general words (its knowledge's ``advice``), for text that
    speaks of the check rather than one finding: SARIF rule help, the model card."""
    info = result.knowledge.checks.get(check)
    return info.advice if info is not None else ""


# --- the summary ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ViolationRow:
    finding: Finding
    severity: str
    kind: str | None  # "new" or "worsened" against a baseline


@dataclass(frozen=True)
class Caps:
    """How many rows each list of the details shows."""

    violations: int
    disparities: int
    groups: int


def candidate_caps() -> Iterator[Caps]:
    """Ever smaller lists until the comment fits: the further gate violations go first (each is
    in the JSON report and the first are under "Act first"), then disparity rows, then groups."""
    for violations in (100, 20, 10, 5, 0):
        yield Caps(violations, 200, 200)
    for disparities in (20, 10, 5, 3, 0):
        yield Caps(0, disparities, 200)
    for groups in (50, 20, 10, 5, 3, 0):
        yield Caps(0, 0, groups)


TRUNCATION_NOTE = (
    "\n\n**Truncated:** this summary was cut to stay under GitHub's comment limit; "
    "the JSON report has everything.\n"
)


def _verdict(result: AuditResult) -> dict[str, Any]:
    gate = result.gate
    fail_on = md_code(gate.fail_on, in_table=False)
    baseline = getattr(gate, "baseline", None)
    failing = len(gate.violations)
    below = len(result.findings) - failing
    if result.incomplete:
        crashed = [check for check in result.checks if check.status is CheckStatus.ERROR]
        names = md_join([md_code(check.id, in_table=False) for check in crashed], ", ")
        return {
            "icon": "⚠️",
            "headline": "audit incomplete",
            "sentence": MarkdownSafe(
                f"**Audit incomplete:** check {names} crashed, so the gate cannot vouch for "
                "this model; see the checks below."
            ),
        }
    if baseline is not None:
        against = f" against the baseline {md_code(baseline.path, in_table=False)}"
        what = "new or worsened finding(s)"
    else:
        against, what = "", "finding(s)"
    alpha = gate.p_value_alpha
    significant = (
        ""
        if alpha is None
        else md_text(f" A selection-rate ratio counts only where Fisher's exact p < {alpha:g}.")
    )
    if gate.passed:
        sentence = f"**Gate passed**{against}: no {what.replace('(s)', '')} at or above {fail_on}"
        sentence += f" ({below} finding(s) below it)." if below else "."
        return {
            "icon": "✅",
            "headline": "gate passed",
            "sentence": MarkdownSafe(sentence + significant),
        }
    sentence = f"**Gate failed**{against}: {failing} {what} at or above {fail_on}"
    if gate.require_significance:
        sentence += ", counting only violations whose interval clears the threshold"
    return {
        "icon": "❌",
        "headline": "gate failed",
        "sentence": MarkdownSafe(sentence + "." + significant),
    }


def _subject(result: AuditResult, name_limit: int) -> MarkdownSafe:
    run = result.run
    model = run.model
    data = run.data

    def code(text: str) -> MarkdownSafe:
        return md_code(text, in_table=False, limit=name_limit)

    def file_name(path: str) -> str:
        return path.replace("\\", "/").rsplit("/", 1)[-1]

    if model.file is not None:
        what = f"Model {code(file_name(model.file.path))} ({md_text(model.kind)})"
    else:
        what = "Decisions read from the data (no model)"
    sensitive = md_join([code(name) for name in data.sensitive], ", ")
    return MarkdownSafe(
        f"{what} on {code(file_name(data.file.path))}: {count(data.rows)} rows, target "
        f"{code(data.target)}, sensitive {sensitive}."
    )


def _counts(result: AuditResult) -> dict[str, Any]:
    roles = result.knowledge.roles
    by_cell = Counter((finding.severity, finding.accountable) for finding in result.findings)
    table = [[by_cell.get((severity, info.role), 0) for info in roles] for severity in SEVERITIES]
    rows = [
        {"severity": severity.value, "by_role": cells, "total": sum(cells)}
        for severity, cells in zip(SEVERITIES, table, strict=True)
    ]
    totals = [sum(cells[index] for cells in table) for index in range(len(roles))]
    by_severity = ", ".join(f"{row['total']} {row['severity']}" for row in rows)
    by_role = ", ".join(f"{info.name} {n}" for info, n in zip(roles, totals, strict=True))
    sentence = (
        f"**{len(result.findings)} finding(s) in all**, each counted once, under the one role "
        f"accountable for it: {by_severity}; {by_role}."
        if result.findings
        else "**No findings.**"
    )
    return {
        "roles": roles,
        "rows": rows,
        "totals": totals,
        "total": len(result.findings),
        # Numbers, severities and role names from roles.toml: no data value, already Markdown.
        "sentence": MarkdownSafe(sentence),
    }


def _group_rows(result: AuditResult) -> tuple[list[str], list[GroupResult]]:
    # A column without a value in any group (calibration error of a decisions-only audit)
    # would only repeat "undefined"; the JSON report gives the reason.
    valued = {
        name
        for group in result.groups
        for name, value in group.metrics.items()
        if value is not None
    }
    columns = [metric for metric in SUMMARY_METRICS if metric in valued]
    return columns, list(result.groups)


def _check_lines(result: AuditResult) -> list[MarkdownSafe]:
    """The checks in three lines at most: those that ran with their finding counts, then the
    skipped and the crashed ones, one reason for all checks that share it."""
    ran = [check for check in result.checks if check.status is not CheckStatus.SKIPPED]
    lines = []
    if ran:
        listed = ", ".join(
            f"{md_code(check.id, in_table=False)} ({check.findings})"
            if check.status is not CheckStatus.ERROR
            else f"{md_code(check.id, in_table=False)} (crashed: {md_text(check.reason or '')})"
            for check in ran
        )
        lines.append(MarkdownSafe(f"Ran, with the findings of each: {listed}"))
    by_reason: dict[str, list[str]] = {}
    for check in result.checks:
        if check.status is CheckStatus.SKIPPED:
            by_reason.setdefault(check.reason or "", []).append(check.id)
    for reason, ids in by_reason.items():
        names = ", ".join(md_code(check, in_table=False) for check in ids)
        lines.append(MarkdownSafe(f"Skipped {names}: {md_text(reason)}"))
    return lines


def _estimate(method: Method, metric: str) -> MarkdownSafe:
    value = method.metrics.get(metric)
    if value is None:
        return md_text(method.undefined.get(metric, "undefined"))
    return MarkdownSafe(f"{number(value)} {interval(method.ci.get(metric))}")


def _what_if_tables(what_if: WhatIf | None) -> list[dict[str, Any]]:
    """The trade-off table of each sensitive feature: one row per method."""
    tables = []
    for slice_ in what_if.slices if what_if is not None else ():
        rows = []
        for method in slice_.methods:
            if method.status != "ok":
                blank = MarkdownSafe("–")
                why = md_text(f"{'not run' if method.status == 'skipped' else 'error'}: ")
                reason = MarkdownSafe(why + md_text(method.reason or ""))
                rows.append(
                    {
                        "name": method.name,
                        "accuracy": blank,
                        "dp": blank,
                        "eo": blank,
                        "groups": reason,
                    }
                )
                continue
            groups = MarkdownSafe(
                "; ".join(
                    f"{md_code(label(group.group), in_table=True, limit=SUMMARY_NAME_LIMIT)} "
                    + (
                        "too few rows"
                        if group.selection_rate is None
                        else f"{number(group.selection_rate)} {interval(group.ci)}"
                    )
                    for group in method.groups
                )
            )
            rows.append(
                {
                    "name": method.name,
                    "accuracy": _estimate(method, "accuracy"),
                    "dp": _estimate(method, "demographic_parity_difference"),
                    "eo": _estimate(method, "equalized_odds_difference"),
                    "groups": groups,
                }
            )
        tables.append({"feature": slice_.feature, "rows": rows})
    return tables


def summary_context(result: AuditResult, caps: Caps) -> dict[str, Any]:
    failing = violation_ids(result)
    by_id = {finding.id: finding for finding in result.findings}
    names = role_names(result)
    violations = sorted(
        (
            ViolationRow(by_id[v.finding], v.severity, getattr(v, "kind", None))
            for v in result.gate.violations
            if v.finding in by_id
        ),
        key=lambda row: seriousness(row.finding, failing),
    )
    judged = judged_disparities(result)
    disparity_rows = []
    for disparity in judged:
        bound, limit = threshold_of(result, disparity.metric)
        if disparity.value is None:
            status = "undefined"
        else:
            status = "violated" if violated(bound, limit, disparity.value) else "within"
        disparity_rows.append(
            {"disparity": disparity, "bound": bound, "limit": limit, "status": status}
        )
    columns, groups = _group_rows(result)
    return {
        "verdict": _verdict(result),
        "subject": _subject(result, SUMMARY_NAME_LIMIT),
        "run": result.run,
        "tool_version": result.tool_version,
        "counts": _counts(result),
        "role_names": names,
        "first": [row.finding for row in violations[:ACT_FIRST]],
        "details_summary": (
            f"{len(violations)} gate violation(s), {len(disparity_rows)} disparities judged, "
            f"{len(groups)} group(s), {len(result.checks)} check(s)"
        ),
        # The first ones are under "Act first" already.
        "violations_total": len(violations),
        "violations": violations[ACT_FIRST:][: caps.violations],
        "violations_omitted": max(0, len(violations) - ACT_FIRST - caps.violations),
        "disparities": disparity_rows[: caps.disparities],
        "disparities_omitted": max(0, len(disparity_rows) - caps.disparities),
        "what_if": result.what_if,
        "what_if_tables": _what_if_tables(result.what_if),
        "group_columns": columns,
        "groups": groups[: caps.groups],
        "groups_omitted": max(0, len(groups) - caps.groups),
        "insufficient": GroupStatus.INSUFFICIENT_DATA,
        "check_lines": _check_lines(result),
        "confidence": f"{result.run.confidence_level:.0%}",
        "describe": lambda finding: describe(finding, name_limit=SUMMARY_NAME_LIMIT),
        "abbreviation": lambda metric: METRIC_ABBREVIATIONS.get(metric, in_words(metric)),
        "short_hash": lambda digest: MarkdownSafe(f"`{digest[:12]}`"),
    }


class MarkdownFormatter:
    extension = "md"

    def render(self, result: AuditResult) -> str:
        template = markdown_environment(SUMMARY_NAME_LIMIT).get_template("report.md.j2")
        text = ""
        for caps in candidate_caps():
            text = template.render(summary_context(result, caps))
            if len(text.encode("utf-8")) <= COMMENT_BYTES:
                return text
        if len(text) <= MAX_CHARS:
            return text
        # Still too long with every list empty: cut at a line, and say so.
        cut = text.rfind("\n", 0, MAX_CHARS - len(TRUNCATION_NOTE))
        return text[: max(cut, 0)] + TRUNCATION_NOTE
