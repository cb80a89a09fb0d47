"""report.html: the reviewer's accountability report, one self-contained page.

Inline CSS and SVG, no scripts, autoescaped. Everything a reader needs is built here as plain
data (numbers, sentences, tables) and the templates only lay it out: an executive summary,
what each role must do, every finding with its evidence, methods and limits, the audit trail
and a printable sign-off block.

Sentences are built as ``str`` and escaped by Jinja2 like any other value: group and column
names come from the user's data and must be shown, never run.
"""

from __future__ import annotations

import functools
import json
import numbers
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Any

from jinja2 import (
    Environment,
    FunctionLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup, escape

from audit.core.check_knowledge import in_words
from audit.core.findings import Finding, Role, Severity
from audit.core.result import (
    AuditResult,
    CheckStatus,
    GroupResult,
    GroupStatus,
    undefined_metrics,
)
from reports.charts import Bar, interval_bars
from reports.datafit_charts import psi_chart
from reports.explain_charts import explanation_view
from reports.explain_charts import method_name as explain_method_name
from reports.robustness_charts import robustness_view
from reports.significance import significance_sentence
from reports.text_charts import TEXT_CSS, method_name, text_view
from reports.what_if_view import what_if_view

CHARTED_METRICS = ("selection_rate", "true_positive_rate", "false_positive_rate")
# A finding's chart sits beside its evidence table, so it is narrower than the slice charts.
FINDING_CHART_LABEL_WIDTH = 170
FINDING_CHART_PLOT_WIDTH = 220

# Checks whose findings this report words itself; others keep their title and show their
# plain details.
WORDED_CHECKS = frozenset(
    {"fairness.disparity", "fairness.four_fifths", "data.small_groups", "data.base_rate_gap"}
)

# Severity in words; whether a value may be chance is said apart, from its interval.
SEVERITY_WORDS: dict[Severity, str] = {
    Severity.CRITICAL: "most serious: far past the policy's limit",
    Severity.HIGH: "serious: clearly past the policy's limit",
    Severity.MEDIUM: "needs attention: past the limit, or perhaps only by chance",
    Severity.LOW: "minor, or a limit of the data or of the audit",
    Severity.INFO: "for information only",
}

METRIC_LABELS: dict[str, str] = {
    "selection_rate": "Selection rate",
    "base_rate": "Base rate",
    "true_positive_rate": "True positive rate",
    "false_positive_rate": "False positive rate",
    "false_negative_rate": "False negative rate",
}


SEVERITIES = tuple(sorted(Severity, key=lambda severity: -severity.rank))  # most severe first


def _load_template(name: str) -> str:
    return resources.files("templates").joinpath(name).read_text("utf-8")


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def _interval(ci: tuple[float, float] | None) -> str:
    return "–" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _percent(value: float) -> str:
    return f"{value * 100:.1f}%"


def _points(value: float) -> str:
    return f"{value * 100:.1f} percentage points"


def _count(value: int) -> str:
    return f"{value:,}"


def _when(timestamp: str) -> str:
    """ISO time as people write it: ``2024-05-01 09:30:00 UTC``; unparsed text as it is."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return timestamp
    if moment.utcoffset() == timedelta(0):
        return moment.strftime("%Y-%m-%d %H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S %z") if moment.tzinfo else str(moment)


BREAK_AFTER = frozenset("/=_×,.:;-")
UNBROKEN_RUN = 18


def _breakable(text: object) -> Markup:
    """Escaped text with ``<wbr>`` break opportunities in long runs without spaces, so that a
    long group or column name wraps inside its table cell instead of widening the table
    past the page. Split before escaping, so that no entity is cut."""
    pieces: list[Markup] = []
    for token in re.split(r"(\s+)", str(text)):
        if len(token) <= UNBROKEN_RUN:
            pieces.append(escape(token))
            continue
        chunks, current = [], ""
        for char in token:
            current += char
            if char in BREAK_AFTER or len(current) >= UNBROKEN_RUN:
                chunks.append(current)
                current = ""
        if current:
            chunks.append(current)
        pieces.append(Markup("<wbr>").join(escape(chunk) for chunk in chunks))
    return Markup("").join(pieces)


@pass_context
def _term(context: Context, metric: str) -> Markup:
    """A metric's name in words, with its plain-language meaning as a tooltip, so that jargon
    such as "equalized odds ratio" is explained where it appears."""
    meaning = context["metric_meaning"].get(str(metric))
    name = escape(in_words(metric))
    if meaning is None:
        return Markup(name)
    return Markup('<span class="term" title="{}">{}</span>').format(meaning, name)


@dataclass(frozen=True)
class ConfigRow:
    key: str  # dotted, e.g. thresholds.demographic_parity_ratio.min
    value: str
    default: str | None  # None when the value is the default


def _flat(config: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(config, dict) and config:
        flat: dict[str, Any] = {}
        for key, value in config.items():
            flat.update(_flat(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): config}


def config_rows(result: AuditResult) -> list[ConfigRow]:
    """The effective configuration as rows, the values that differ from the shipped defaults
    first: what a reviewer must notice is what someone changed."""
    config = result.run.config
    defaults = _flat(dict(result.knowledge.policy_defaults))

    def shown(value: Any) -> str:
        return json.dumps(value, sort_keys=True) if not isinstance(value, str) else value

    rows = [
        ConfigRow(
            key, shown(value), None if defaults.get(key) == value else shown(defaults.get(key))
        )
        for key, value in sorted(_flat(config).items())
    ]
    return sorted(rows, key=lambda row: row.default is None)


# One environment per process: Jinja2 compiles a template once per environment, and the
# HTML templates take about 0.2 s to compile.
@functools.cache
def environment() -> Environment:
    env = Environment(
        loader=FunctionLoader(_load_template),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _number
    env.filters["interval"] = _interval
    env.filters["count"] = _count
    env.filters["when"] = _when
    env.filters["breakable"] = _breakable
    env.filters["label"] = lambda labels: " / ".join(labels)
    env.filters["words"] = in_words
    env.filters["term"] = _term
    env.globals["explain_view"] = explanation_view  # the explanations section's charts
    env.filters["explain_method_name"] = explain_method_name
    env.globals["robustness_view"] = robustness_view  # the robustness section's charts
    env.globals["text_view"] = text_view  # the text section's charts and sentences
    env.globals["text_method_name"] = method_name
    env.globals["what_if_view"] = what_if_view  # the mitigation what-if's tables and charts
    env.globals["data_fit_chart"] = psi_chart  # the data-fit section's PSI chart
    return env


def _label(group: tuple[str, ...]) -> str:
    return " / ".join(group)


def _anchor(prefix: str, key: str) -> str:
    # Ids from plugins may hold anything; an anchor keeps letters, digits, '-', '_' and '.'.
    return f"{prefix}-{re.sub(r'[^A-Za-z0-9_.-]', '-', key)}"


GroupKey = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass(frozen=True)
class Measured:
    """One group metric of one group, as evidence."""

    value: float | None
    interval: tuple[float, float] | None
    note: str  # why there is no value


@dataclass(frozen=True)
class EvidenceRow:
    group: str
    n: int | None
    measured: tuple[Measured, ...]  # one per column of the finding's evidence table


@dataclass(frozen=True)
class RelatedRow:
    """One more measurement of a finding's cause, as the evidence table shows it."""

    title: str
    metric: str
    slice: str
    groups: str
    value: float | None
    interval: tuple[float, float] | None
    limit: str  # "minimum 0.800", or "" without a threshold
    severity: str
    also_seen: bool  # measured on an intersection whose gap is no larger than this slice's
    significance: str | None  # a selection-rate ratio's p-value and shortfall, in words


def related_rows(finding: Finding, alpha: float | None) -> tuple[RelatedRow, ...]:
    return tuple(
        RelatedRow(
            title=row.title,
            metric=row.evidence.metric,
            slice=" × ".join(row.evidence.feature),
            groups=" vs ".join(_label(group) for group in row.evidence.groups),
            value=row.evidence.value,
            interval=row.evidence.interval,
            limit=""
            if row.evidence.threshold is None
            else f"{'minimum' if row.evidence.bound == 'min' else 'maximum'} "
            f"{row.evidence.threshold:.3f}",
            severity=row.severity.value,
            also_seen=row.evidence.feature != finding.evidence.feature,
            significance=significance_sentence(row.evidence, alpha),
        )
        for row in finding.related_evidence
    )


@dataclass(frozen=True)
class FindingView:
    finding: Finding
    number: int  # F1, F2, ... in order of seriousness; paper has no links
    anchor: str
    check_name: str
    plain: str  # the finding in one plain sentence
    meaning: str | None  # what its metric means
    certainty: str | None  # what the interval says
    significance: str | None  # a selection-rate ratio's p-value and shortfall, in words
    severity_words: str
    blocks_release: bool
    samples: tuple[int, ...]  # evidence n that is not one size per group (a sample drawn)
    details: tuple[tuple[str, str], ...]  # scalar details of checks without own wording
    columns: tuple[str, ...]  # group metrics in the evidence table
    rows: tuple[EvidenceRow, ...]
    charts: tuple[tuple[str, Markup], ...]
    feature: str
    related: tuple[RelatedRow, ...]  # the cause's other measurements past their thresholds

    @property
    def label(self) -> str:
        return f"F{self.number}"


@dataclass(frozen=True)
class ActionGroup:
    """Findings of one role that share the same action text."""

    check_name: str
    action: str | None
    findings: tuple[FindingView, ...]


@dataclass(frozen=True)
class RoleView:
    role: Role
    name: str
    duty: str
    anchor: str
    accountable: tuple[FindingView, ...]
    consulted: tuple[FindingView, ...]
    accountable_actions: tuple[ActionGroup, ...]
    consulted_actions: tuple[ActionGroup, ...]
    severity_counts: tuple[tuple[str, int], ...]  # accountable findings, most severe first


class _Groups:
    """Group results by (feature, group), for the evidence of findings."""

    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self._groups: dict[GroupKey, GroupResult] = {
            (group.feature, group.group): group for group in result.groups
        }

    def get(self, feature: tuple[str, ...], group: tuple[str, ...]) -> GroupResult | None:
        return self._groups.get((feature, group))

    def rate(self, feature: tuple[str, ...], group: tuple[str, ...], metric: str) -> float | None:
        found = self.get(feature, group)
        return None if found is None else found.metrics.get(metric)


def _exceedance(finding: Finding) -> float:
    """How far past its threshold the value lies, relative to the threshold; 0 if unknown."""
    evidence = finding.evidence
    if evidence.value is None or evidence.threshold is None or evidence.threshold == 0:
        return 0.0
    gap = (
        evidence.threshold - evidence.value
        if evidence.bound == "min"
        else evidence.value - evidence.threshold
    )
    return gap / abs(evidence.threshold)


# Among findings equal in severity, certainty and group size, the one closest to what people
# receive comes first: who gets the decision, then who gets it among those who qualify, then
# error rates. Values of different metrics are not comparable, so this order goes before
# the distance past the threshold.
METRIC_ORDER = (
    "selection_rate_ratio",
    "demographic_parity_ratio",
    "demographic_parity_difference",
    "equal_opportunity_difference",
    "equalized_odds_difference",
    "equalized_odds_ratio",
    "base_rate_gap",
    "group_size",
)


def seriousness(finding: Finding) -> tuple[int, bool, int, int, float, str]:
    """Sort key, most serious first: severity; a clear interval before a possibly-noisy one;
    evidence on larger groups (more people, firmer numbers); the metric's place in
    ``METRIC_ORDER``; how far past the threshold."""
    evidence = finding.evidence
    smallest = min(evidence.n) if evidence.n else 0
    order = (
        METRIC_ORDER.index(evidence.metric)
        if evidence.metric in METRIC_ORDER
        else len(METRIC_ORDER)
    )
    return (
        -finding.severity.rank,
        evidence.statistically_clear is not True,
        -smallest,
        order,
        -_exceedance(finding),
        finding.id,
    )


def most_serious(views: Iterable[FindingView], count: int = 3) -> list[FindingView]:
    """The ``count`` most serious findings, one per kind of check and set of groups compared:
    the same two groups measured by several fairness metrics are one fact for a reader,
    told once."""
    chosen: list[FindingView] = []
    seen: set[tuple[str, tuple[str, ...], frozenset[tuple[str, ...]]]] = set()
    for view in views:
        evidence = view.finding.evidence
        # The family of the check (fairness, explain, ...) keeps a different kind of fact
        # about the same groups, such as decisions flipping with the attribute alone.
        family = view.finding.check.split(".")[0]
        key = (family, evidence.feature, frozenset(evidence.groups))
        if evidence.groups and key in seen:
            continue
        seen.add(key)
        chosen.append(view)
        if len(chosen) == count:
            break
    return chosen


# --- plain sentences ---------------------------------------------------------------------


def _who(feature: tuple[str, ...], label: str, n: int | None) -> str:
    """A group named for a reader: its values, then which columns they are and its size."""
    columns = " × ".join(feature)
    size = f", {_count(n)} people" if n is not None else ""
    return f"{label} ({columns}{size})" if columns else label


def _ordered_pair(
    finding: Finding, groups: _Groups, metric: str
) -> tuple[tuple[str, float], tuple[str, float]] | None:
    """The finding's two groups, named for a reader, with their ``metric``, lower first."""
    evidence = finding.evidence
    if len(evidence.groups) != 2:
        return None
    sizes: list[int | None] = list(evidence.n) if len(evidence.n) == 2 else [None, None]
    pair = []
    for group, n in zip(evidence.groups, sizes, strict=True):
        value = groups.rate(evidence.feature, group, metric)
        if value is None:
            return None
        pair.append((_who(evidence.feature, _label(group), n), value))
    low, high = sorted(pair, key=lambda item: item[1])
    return low, high


def _components(result: AuditResult, metric: str) -> tuple[str, ...]:
    """The group metrics behind a finding's metric: what its table and chart show per group."""
    known = result.knowledge.metrics.get(metric)
    return known.components if known is not None else ()


def metric_meanings(result: AuditResult) -> dict[str, str]:
    return {name: metric.meaning for name, metric in result.knowledge.metrics.items()}


def check_names(result: AuditResult) -> dict[str, str]:
    """Check ids in words for readers who do not know the ids; a check without a name in its
    knowledge file keeps its id."""
    return {check: info.name for check, info in result.knowledge.checks.items() if info.name}


def _worst_component(finding: Finding, groups: _Groups) -> str | None:
    """Which of the disparity's group metrics sets its value for the two groups named."""
    components = _components(groups.result, finding.evidence.metric)
    ratio = finding.evidence.metric.endswith("_ratio")
    worst: tuple[float, str] | None = None
    for metric in components:
        pair = _ordered_pair(finding, groups, metric)
        if pair is None:
            continue
        (_, low), (_, high) = pair
        shortfall = 1.0 - (low / high if high > 0 else 1.0) if ratio else high - low
        if worst is None or shortfall > worst[0]:
            worst = (shortfall, metric)
    return None if worst is None else worst[1]


# Who a rate is about, and what it counts, in words.
AMONG = {
    "selection_rate": ("", "get"),
    "true_positive_rate": ("Among people whose true outcome is positive, ", "get"),
    "false_positive_rate": (
        "Among people whose true outcome is negative, ",
        "are wrongly given",
    ),
}


def plain_sentence(finding: Finding, groups: _Groups, min_group_size: int) -> str:
    """The finding in one or two plain sentences; its title where no wording fits."""
    evidence = finding.evidence
    metric, value, threshold = evidence.metric, evidence.value, evidence.threshold
    if metric == "group_size":
        listed = ", ".join(
            f"{_label(group)} ({_count(n)} rows)"
            for group, n in zip(evidence.groups, evidence.n, strict=False)
        )
        return (
            f"{len(evidence.groups)} group(s) of {' × '.join(evidence.feature)} have fewer "
            f"than {min_group_size} rows, too few to measure: {listed}. The audit says "
            "nothing about how the model treats them."
        )
    if value is None or threshold is None:
        return finding.title
    if metric == "selection_rate_ratio":
        if len(evidence.groups) != 2 or len(evidence.n) != 2:
            return finding.title
        (group, top), (size, top_size) = evidence.groups, evidence.n
        rate = groups.rate(evidence.feature, group, "selection_rate")
        top_rate = groups.rate(evidence.feature, top, "selection_rate")
        if rate is None or top_rate is None:
            return finding.title
        return (
            f"{_who(evidence.feature, _label(group), size)} get the positive decision "
            f"{value:.2f} times as often as {_who(evidence.feature, _label(top), top_size)}, "
            f"the group that gets it most ({_percent(rate)} against {_percent(top_rate)}). "
            f"Under the four-fifths rule a ratio below {threshold:.2f} is evidence of adverse "
            "impact."
        )
    if metric == "base_rate_gap":
        pair = _ordered_pair(finding, groups, "base_rate")
        if pair is None:
            return finding.title
        (low_name, low), (high_name, high) = pair
        return (
            f"Before the model is involved, the data's own labels differ: {_percent(low)} of "
            f"{low_name} have a positive outcome against {_percent(high)} of {high_name}, a "
            f"gap of {_points(value)} (the policy flags more than {_points(threshold)}). "
            "The labels may carry past bias."
        )
    component = _worst_component(finding, groups)
    pair = None if component is None else _ordered_pair(finding, groups, component)
    if component not in AMONG or pair is None:
        return finding.title
    among, verb = AMONG[component]
    (low_name, low), (high_name, high) = pair
    if metric.endswith("_ratio"):
        sentence = (
            f"{low_name} {verb} the positive decision {value:.2f} times as often as "
            f"{high_name} ({_percent(low)} against {_percent(high)}). The policy asks for at "
            f"least {threshold:.2f}."
        )
    else:
        sentence = (
            f"{_percent(low)} of {low_name} {verb} the positive decision against "
            f"{_percent(high)} of {high_name}: a gap of {_points(value)}, where the policy "
            f"allows at most {_points(threshold)}."
        )
    return among + sentence if among else sentence


def certainty_sentence(finding: Finding, level: int) -> str | None:
    evidence = finding.evidence
    if evidence.interval is None:
        if evidence.statistically_clear is False:
            return "No interval could be computed, so this cannot be shown to be more than chance."
        return None
    interval = _interval(evidence.interval)
    if evidence.statistically_clear is True:
        return (
            f"The whole {level}% interval {interval} lies past the threshold: "
            "very unlikely to be chance."
        )
    if evidence.statistically_clear is False:
        return (
            f"The {level}% interval {interval} reaches the threshold: the gap may be chance; "
            "more data would tell."
        )
    return f"{level}% interval: {interval}."


# --- evidence tables and charts ------------------------------------------------------------


def _evidence(
    finding: Finding, groups: _Groups, level: int
) -> tuple[tuple[str, ...], tuple[EvidenceRow, ...], tuple[tuple[str, Markup], ...]]:
    evidence = finding.evidence
    columns = _components(groups.result, evidence.metric)
    rows = []
    # Some checks give one n per group, others the size of a sample they drew: a group's row
    # shows the group's own size, never a sample's.
    sizes_per_group = len(evidence.n) == len(evidence.groups)
    for position, group in enumerate(evidence.groups):
        found = groups.get(evidence.feature, group)
        n = evidence.n[position] if sizes_per_group else (found.n if found is not None else None)
        measured = []
        for metric in columns:
            if found is None or found.status is GroupStatus.INSUFFICIENT_DATA:
                measured.append(Measured(None, None, "insufficient data"))
            else:
                measured.append(
                    Measured(
                        found.metrics.get(metric),
                        found.ci.get(metric),
                        found.undefined.get(metric, "undefined"),
                    )
                )
        rows.append(EvidenceRow(_label(group), n, tuple(measured)))
    if not columns and all(row.n is None for row in rows):
        # Groups the audit did not measure as groups (identity groups of a text audit): a
        # table of their names and "–" would say nothing; the finding's sentence names them.
        rows = []
    charts = []
    for column, metric in enumerate(columns):
        bars = [
            Bar(row.group, row.measured[column].value, row.measured[column].interval)
            for row in rows
        ]
        if not any(bar.value is not None for bar in bars):
            continue
        reference = reference_label = None
        if evidence.metric == "selection_rate_ratio" and evidence.threshold is not None:
            top = bars[-1].value
            if top is not None:
                reference = evidence.threshold * top
                reference_label = f"{evidence.threshold:g} × highest"
        title = f"{METRIC_LABELS.get(metric, metric)} of the groups compared"
        charts.append(
            (
                f"{title}, with {level}% intervals",
                # The numbers stand in the evidence table beside the chart.
                interval_bars(
                    title,
                    bars,
                    reference,
                    reference_label,
                    label_width=FINDING_CHART_LABEL_WIDTH,
                    plot_width=FINDING_CHART_PLOT_WIDTH,
                    show_values=False,
                ),
            )
        )
    return columns, tuple(rows), tuple(charts)


def _scalar_details(
    details: dict[str, Any], metrics: Collection[str]
) -> tuple[tuple[str, str], ...]:
    """A check's plain details (numbers, words, yes/no) for a reader; lists and tables are
    left to the JSON report. A value that is a metric id (an association's measure) is shown
    in words; any other text (a column's name) as it is."""
    shown = []
    for key, value in details.items():
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, str) and value in metrics:
            text = in_words(value)
        elif isinstance(value, str | numbers.Integral):
            text = str(value)
        elif isinstance(value, numbers.Real):
            text = f"{float(value):.3f}"
        else:
            continue
        shown.append((in_words(key), text))
    return tuple(shown)


def finding_views(result: AuditResult) -> list[FindingView]:
    groups = _Groups(result)
    level = round(result.run.confidence_level * 100)
    min_group_size = int(result.run.config.get("min_group_size", 0))
    blocking = {violation.finding for violation in result.gate.violations}
    meanings, names = metric_meanings(result), check_names(result)
    views = []
    for number, finding in enumerate(sorted(result.findings, key=seriousness), start=1):
        columns, rows, charts = _evidence(finding, groups, level)
        meaning = meanings.get(finding.evidence.metric)
        if meaning and finding.evidence.details.get("comparison") == "reference":
            reference = finding.evidence.details.get("reference_group")
            if reference:
                meaning += (
                    f" Here each group is compared with the reference group "
                    f"{_label(tuple(reference))}."
                )
        evidence = finding.evidence
        views.append(
            FindingView(
                finding=finding,
                samples=()
                if len(evidence.n) == len(evidence.groups)
                else tuple(int(n) for n in evidence.n),
                details=()
                if finding.check in WORDED_CHECKS
                else _scalar_details(evidence.details, result.knowledge.metrics),
                number=number,
                anchor=_anchor("finding", finding.id),
                check_name=names.get(finding.check, finding.check),
                plain=plain_sentence(finding, groups, min_group_size),
                meaning=meaning,
                certainty=certainty_sentence(finding, level),
                significance=significance_sentence(evidence, result.gate.p_value_alpha),
                severity_words=SEVERITY_WORDS[finding.severity],
                blocks_release=finding.id in blocking,
                columns=columns,
                rows=rows,
                charts=charts,
                feature=" × ".join(finding.evidence.feature),
                related=related_rows(finding, result.gate.p_value_alpha),
            )
        )
    return views


# --- roles ---------------------------------------------------------------------------------


def _action_groups(views: list[FindingView], role: Role) -> tuple[ActionGroup, ...]:
    grouped: dict[tuple[str, str | None], list[FindingView]] = defaultdict(list)
    for view in views:
        grouped[(view.check_name, view.finding.actions.get(role))].append(view)
    return tuple(
        ActionGroup(name, action, tuple(members)) for (name, action), members in grouped.items()
    )


def role_views(result: AuditResult, views: list[FindingView]) -> list[RoleView]:
    roles = []
    for info in result.knowledge.roles:
        accountable = [view for view in views if view.finding.accountable is info.role]
        consulted = [view for view in views if info.role in view.finding.consulted]
        counts = Counter(view.finding.severity for view in accountable)
        roles.append(
            RoleView(
                role=info.role,
                name=info.name,
                duty=info.duty,
                anchor=_anchor("role", info.role.value),
                accountable=tuple(accountable),
                consulted=tuple(consulted),
                accountable_actions=_action_groups(accountable, info.role),
                consulted_actions=_action_groups(consulted, info.role),
                severity_counts=tuple(
                    (severity.value, counts.get(severity, 0)) for severity in SEVERITIES
                ),
            )
        )
    return roles


# --- all measurements, methods and limits ----------------------------------------------


def _slices(result: AuditResult) -> list[dict[str, Any]]:
    by_feature: dict[tuple[str, ...], list[GroupResult]] = defaultdict(list)
    for group in result.groups:
        by_feature[group.feature].append(group)
    slices = []
    for feature, members in by_feature.items():
        charts = []
        for metric in CHARTED_METRICS:
            bars = [
                Bar(
                    label=_label(group.group),
                    value=group.metrics.get(metric),
                    interval=group.ci.get(metric),
                    note="insufficient data"
                    if group.status is GroupStatus.INSUFFICIENT_DATA
                    else group.undefined.get(metric, ""),
                )
                for group in members
            ]
            title = f"{in_words(metric)} by {' × '.join(feature)}"
            charts.append((title, interval_bars(title, bars)))
        small = [group for group in members if group.status is GroupStatus.INSUFFICIENT_DATA]
        slices.append(
            {
                "feature": feature,
                "anchor": _anchor("slice", "-".join(feature)),
                "groups": members,
                "small": small,
                "measured": len(members) - len(small),
                "smallest": min(group.n for group in members),
                "charts": charts,
                "disparities": [d for d in result.disparities if d.feature == feature],
            }
        )
    return slices


def _thresholds(result: AuditResult) -> list[dict[str, Any]]:
    thresholds = result.run.config.get("thresholds", {})
    return [
        {"metric": metric, **limits, "meaning": metric_meanings(result).get(metric, "")}
        for metric, limits in thresholds.items()
        if isinstance(limits, dict)
    ]


class HtmlFormatter:
    extension = "html"

    def render(self, result: AuditResult) -> str:
        views = finding_views(result)
        severity_counts = Counter(finding.severity for finding in result.findings)
        check_counts = Counter(check.status for check in result.checks)
        by_id = {view.finding.id: view for view in views}
        context = {
            "result": result,
            "run": result.run,
            # The text section's shaded sentences bring their own rules.
            "css": _load_template("report.css") + TEXT_CSS,
            "level": round(result.run.confidence_level * 100),
            "severities": [
                (severity.value, severity_counts.get(severity, 0)) for severity in SEVERITIES
            ],
            "findings": views,
            "top_findings": most_serious(views),
            "roles": role_views(result, views),
            "blocking": [by_id[v.finding] for v in result.gate.violations if v.finding in by_id],
            "checks_ok": check_counts.get(CheckStatus.OK, 0),
            "checks_skipped": [
                c
                for c in result.checks
                if c.status is CheckStatus.SKIPPED and c not in result.inapplicable
            ],
            "checks_inapplicable": result.inapplicable,
            "checks_failed": [c for c in result.checks if c.status is CheckStatus.ERROR],
            "check_names": check_names(result),
            "severity_words": {severity.value: words for severity, words in SEVERITY_WORDS.items()},
            "has_intersections": any(len(group.feature) > 1 for group in result.groups),
            "slices": _slices(result),
            "measured_groups": sum(group.status is GroupStatus.OK for group in result.groups),
            "small_groups": [
                group for group in result.groups if group.status is GroupStatus.INSUFFICIENT_DATA
            ],
            "undefined_metrics": undefined_metrics(result.groups),
            "thresholds": _thresholds(result),
            "metric_meaning": metric_meanings(result),
            # The metrics the engine computed, in its order; the report adds none of its own.
            "group_columns": next(
                (tuple(group.metrics) for group in result.groups if group.metrics), ()
            ),
            "config_rows": config_rows(result),
        }
        return environment().get_template("report.html.j2").render(context)
