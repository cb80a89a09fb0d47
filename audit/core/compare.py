"""Run-to-run comparison: what changed between a baseline report and the current one.

Findings are matched by ``fingerprint`` (check, slice and metric, never values), group
metrics by feature, group and metric, and disparities by feature, metric and comparison.
A metric counts as changed only when each run's point estimate lies outside the other run's
interval, so that bootstrap noise alone does not show up as a change (docs/diff.md).

The engine never prints: ``compare`` returns a ``Comparison`` (audit.core.comparison) and
``to_diff_document`` turns it into the ``--format json`` document; reports.terminal renders
the table.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from audit.core.causes import cause_fingerprint
from audit.core.check_knowledge import causes
from audit.core.comparison import (
    Assessment,
    Comparison,
    FindingChange,
    MetricChange,
    RunSide,
    Scope,
)
from audit.core.errors import RaiAuditError
from audit.core.findings import Severity
from audit.core.gate import (
    Baseline,
    ChangeKind,
    Graded,
    change_kind,
    finding_violates,
    is_regression,
)
from audit.core.result import SCHEMA_VERSION, AuditResult, FileInfo
from audit.core.serialize import to_document, validate_document

DIFF_FORMAT = "rai-audit-diff/1"
SCHEMA_MAJOR = SCHEMA_VERSION.split(".")[0]
_MESSAGE_LIMIT = 200  # a schema message can quote a whole object; one line stays readable


class ReportError(RaiAuditError):
    """A report.json that cannot be read, is not JSON or breaks the report schema."""


@dataclass(frozen=True)
class LoadedReport:
    file: FileInfo  # the bytes that were read: path, sha256 and size
    document: dict[str, Any]


class _NonFiniteNumber(ValueError):
    pass


def _reject_constant(name: str) -> float:
    # Python's json reads NaN and Infinity, which rai-audit never writes (allow_nan=False).
    raise _NonFiniteNumber(f"{name} is not a JSON number")


def load_report(path: Path) -> LoadedReport:
    """Read and validate a report.json; a ``ReportError`` (exit 2) names the file and why."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ReportError(f"{path}: report file not found; check the path") from None
    except IsADirectoryError:
        raise ReportError(f"{path}: is a directory; name a report.json file") from None
    except OSError as exc:
        raise ReportError(f"{path}: cannot read it ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ReportError(
            f"{path}: not UTF-8 text, so not a report.json; name the report.json of a run"
        ) from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ReportError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except _NonFiniteNumber as exc:
        raise ReportError(f"{path}: not valid JSON ({exc})") from None
    check_document(document, str(path))
    info = FileInfo(path=str(path), sha256=hashlib.sha256(raw).hexdigest(), bytes=len(raw))
    return LoadedReport(file=info, document=document)


def _json_path(parts: Any) -> str:
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts)
    return path or "the top level"


def check_document(document: Any, source: str) -> None:
    """Raise a ``ReportError`` unless ``document`` is a report of this schema major version."""
    if not isinstance(document, dict):
        kind = "null" if document is None else type(document).__name__
        raise ReportError(f"{source}: not a rai-audit report: the JSON is {kind}, not an object")
    version = document.get("schema_version")
    if isinstance(version, str) and version.split(".")[0] != SCHEMA_MAJOR:
        raise ReportError(
            f"{source}: report schema version {version}, but this rai-audit reads version "
            f"{SCHEMA_MAJOR}.x; compare reports of the same major version"
        )
    import jsonschema  # for its error type; a run that compares no report never imports it

    try:
        validate_document(document)
    except jsonschema.ValidationError as error:
        message = " ".join(error.message.split())
        if len(message) > _MESSAGE_LIMIT:
            message = message[: _MESSAGE_LIMIT - 3] + "..."
        hint = ""
        if isinstance(version, str) and _newer_minor(version):
            hint = f" (a newer rai-audit wrote it; this one reads schema {SCHEMA_VERSION})"
        raise ReportError(
            f"{source}: not a valid rai-audit report: {_json_path(error.absolute_path)}: "
            f"{message}{hint}"
        ) from None


def _newer_minor(version: str) -> bool:
    try:
        return int(version.split(".")[1]) > int(SCHEMA_VERSION.split(".")[1])
    except (IndexError, ValueError):
        return False


def _severity(finding: Mapping[str, Any]) -> Severity:
    return Severity(finding["severity"])


def cause_key(measured: Mapping[str, Any]) -> str | None:
    """The fingerprint since schema 1.3 of a finding, or of a related measurement, whose check
    merges into a cause (audit.core.causes); None for other checks. A 1.0-1.2 report's per-metric
    findings of one slice (and an attribute's direct use and flips) get their cause's
    fingerprint, so old baselines still match; a 1.3 report's fingerprints are already these."""
    cause = causes().get(measured["check"])
    return None if cause is None else cause_fingerprint(cause, measured["evidence"]["feature"])


def _findings(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Findings by fingerprint; should a report hold one twice (or an old report several
    measurements of one cause), the most severe counts."""
    found: dict[str, Mapping[str, Any]] = {}
    for finding in document["findings"]:
        key = cause_key(finding) or finding["fingerprint"]
        prior = found.get(key)
        if prior is None or _severity(finding).rank > _severity(prior).rank:
            found[key] = finding
    return found


def _folded(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Intersections folded into a parent slice's finding, by their own cause key: they are
    still reported, so a report that has them on their own (an older report, or a run where
    their gap was clearly larger) matches them here, graded as their own measurement was."""
    folded: dict[str, Mapping[str, Any]] = {}
    for finding in document["findings"]:
        for row in finding.get("related_evidence", ()):
            key = cause_key(row)
            if key is None or key == finding["fingerprint"]:
                continue
            prior = folded.get(key)
            if prior is None or _severity(row).rank > _severity(prior).rank:
                folded[key] = {**finding, "severity": row["severity"], "evidence": row["evidence"]}
    return folded


def baseline_of(report: LoadedReport) -> Baseline:
    """What the regression gate needs of a loaded baseline report."""
    severities = {key: _severity(finding) for key, finding in _findings(report.document).items()}
    return Baseline(file=report.file, severities=severities)


def _file(entry: Mapping[str, Any] | None) -> FileInfo | None:
    if entry is None:
        return None
    return FileInfo(path=entry["path"], sha256=entry["sha256"], bytes=entry["bytes"])


def _side(document: Mapping[str, Any], report: FileInfo | None) -> RunSide:
    run = document["run"]
    data_file = _file(run["data"]["file"])
    assert data_file is not None  # required by the schema
    return RunSide(
        report=report,
        schema_version=document["schema_version"],
        tool_version=document["tool"]["version"],
        started_at=run["started_at"],
        model_kind=run["model"]["kind"],
        model_file=_file(run["model"]["file"]),
        data_file=data_file,
    )


def _finding_changes(
    baseline: Mapping[str, Any], current: Mapping[str, Any]
) -> dict[str, list[FindingChange]]:
    """Each finding of either report under new, resolved, worsened, improved or unchanged."""
    before, after = _findings(baseline), _findings(current)
    folded_before, folded_after = _folded(baseline), _folded(current)
    gate = current["gate"]
    fail_on, require_significance = Severity(gate["fail_on"]), bool(gate["require_significance"])
    # Since 1.4; an older report's gate never excused a ratio by its p-value.
    p_value_alpha = gate.get("p_value_alpha")
    changes: dict[str, list[FindingChange]] = {kind: [] for kind in get_args(ChangeKind)}
    for key in sorted(before.keys() | after.keys()):
        old = before.get(key) or folded_before.get(key)
        now = after.get(key) or folded_after.get(key)
        kind = change_kind(
            _severity(old) if old is not None else None,
            _severity(now) if now is not None else None,
        )
        shown = now if now is not None else old
        assert shown is not None
        regression = now is not None and is_regression(
            kind,
            finding_violates(_graded_rows(now), fail_on, require_significance, p_value_alpha),
        )
        changes[kind].append(
            FindingChange(
                fingerprint=key,
                finding=shown["id"],
                check=shown["check"],
                title=shown["title"],
                baseline_severity=old["severity"] if old is not None else None,
                current_severity=now["severity"] if now is not None else None,
                regression=regression,
            )
        )
    # Most severe first, as in a report; the fingerprint keeps the order stable.
    for listed in changes.values():
        listed.sort(key=_severity_order)
    return changes


def _graded_rows(finding: Mapping[str, Any]) -> tuple[Graded, ...]:
    """What the gate reads of a report's finding: its headline, then its related evidence."""
    rows = [finding, *finding.get("related_evidence", ())]
    return tuple(
        Graded(
            _severity(row),
            row["evidence"]["statistically_clear"],
            row["evidence"]["details"].get("p_value"),
        )
        for row in rows
    )


def _severity_order(change: FindingChange) -> tuple[int, str]:
    shown = change.current_severity or change.baseline_severity
    assert shown is not None
    return -Severity(shown).rank, change.fingerprint


def _worse_when(metric: str) -> Literal["higher", "lower"] | None:
    """Which way a disparity gets worse: differences grow, ratios shrink."""
    if metric.endswith("_difference"):
        return "higher"
    if metric.endswith("_ratio"):
        return "lower"
    return None


Estimate = tuple[float | None, tuple[float, float] | None]
EstimateReader = Callable[[Mapping[str, Any]], dict[tuple[Any, ...], Estimate]]


def _interval(value: list[float] | None) -> tuple[float, float] | None:
    return None if value is None else (float(value[0]), float(value[1]))


def _group_estimates(document: Mapping[str, Any]) -> dict[tuple[Any, ...], Estimate]:
    return {
        (tuple(group["feature"]), tuple(group["group"]), metric): (
            value,
            _interval(group["ci"].get(metric)),
        )
        for group in document["groups"]
        for metric, value in group["metrics"].items()
    }


def _disparity_estimates(document: Mapping[str, Any]) -> dict[tuple[Any, ...], Estimate]:
    return {
        (tuple(entry["feature"]), entry["metric"], entry["comparison"]): (
            entry["value"],
            _interval(entry["ci"]),
        )
        for entry in document["disparities"]
    }


def beyond_intervals(
    baseline_value: float,
    baseline_interval: tuple[float, float],
    current_value: float,
    current_interval: tuple[float, float],
) -> bool:
    """The change rule: each run's point estimate lies outside the other run's interval, on
    the side the estimate moved to.

    The side matters where a point lies outside its own interval: a between-groups
    difference of exactly 0 has a bootstrap interval above 0 (each resample's max - min is
    positive), and without the side two identical runs would count as changed.
    """
    if current_value > baseline_value:
        return current_value > baseline_interval[1] and baseline_value < current_interval[0]
    if current_value < baseline_value:
        return current_value < baseline_interval[0] and baseline_value > current_interval[1]
    return False


def _metric_changes(
    baseline: Mapping[str, Any], current: Mapping[str, Any]
) -> tuple[list[MetricChange], int, int]:
    changes: list[MetricChange] = []
    compared = not_judged = 0
    readers: tuple[tuple[Scope, EstimateReader], ...] = (
        ("group", _group_estimates),
        ("disparity", _disparity_estimates),
    )
    for scope, read in readers:
        before, after = read(baseline), read(current)
        for key in sorted(before.keys() & after.keys()):
            (old, old_interval), (now, now_interval) = before[key], after[key]
            if old is None or now is None or old_interval is None or now_interval is None:
                not_judged += 1
                continue
            compared += 1
            if not beyond_intervals(old, old_interval, now, now_interval):
                continue
            direction: Literal["up", "down"] = "up" if now > old else "down"
            assessment: Assessment = "neutral"
            if scope == "disparity":
                worse_when = _worse_when(key[1])
                if worse_when is not None:
                    worse = (direction == "up") == (worse_when == "higher")
                    assessment = "worse" if worse else "better"
            changes.append(
                MetricChange(
                    scope=scope,
                    feature=key[0],
                    group=key[1] if scope == "group" else None,
                    comparison=key[2] if scope == "disparity" else None,
                    metric=key[2] if scope == "group" else key[1],
                    baseline_value=old,
                    baseline_interval=old_interval,
                    current_value=now,
                    current_interval=now_interval,
                    direction=direction,
                    assessment=assessment,
                )
            )
    return changes, compared, not_judged


def _config_differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    keys: list[str] = []
    for key in sorted(before.keys() | after.keys()):
        old, now = before.get(key), after.get(key)
        if old == now:
            continue
        if isinstance(old, dict) and isinstance(now, dict):
            keys.extend(
                f"{key}.{sub}"
                for sub in sorted(old.keys() | now.keys())
                if old.get(sub) != now.get(sub)
            )
        else:
            keys.append(key)
    return keys


def _warnings(baseline: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Why the comparison may not be like for like."""
    names = ("baseline", "current")
    found = []
    old_run, new_run = baseline["run"], current["run"]
    old_data, new_data = old_run["data"], new_run["data"]
    if old_data["file"]["sha256"] != new_data["file"]["sha256"]:
        found.append(
            f"the runs audited different data ({names[0]}: {old_data['file']['path']}, sha256 "
            f"{old_data['file']['sha256'][:12]}; {names[1]}: {new_data['file']['path']}, "
            f"sha256 {new_data['file']['sha256'][:12]}): a change may come from the data, "
            "not the model"
        )
    for field, label in (("target", "target"), ("sensitive", "sensitive columns")):
        if old_data[field] != new_data[field]:
            found.append(
                f"the runs used different {label} ({names[0]}: {_words(old_data[field])}; "
                f"{names[1]}: {_words(new_data[field])}): findings on what only one run "
                "measured show as new or resolved"
            )
    differing = _config_differences(old_run["config"], new_run["config"])
    if differing:
        found.append(
            f"the runs used different policy settings ({', '.join(differing)}): findings and "
            "intervals may differ for that reason alone"
        )
    for name, run in zip(names, (old_run, new_run), strict=True):
        if run["n_boot"] == 0:
            found.append(f"{name} has no intervals (n_boot 0), so no metric change could be judged")
    old_tool, new_tool = baseline["tool"]["version"], current["tool"]["version"]
    if old_tool != new_tool:
        found.append(
            f"the reports come from different rai-audit versions ({names[0]}: {old_tool}; "
            f"{names[1]}: {new_tool})"
        )
    return found


def _words(value: Any) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def compare(
    baseline: Mapping[str, Any],
    current: Mapping[str, Any] | AuditResult,
    *,
    baseline_file: FileInfo | None = None,
    current_file: FileInfo | None = None,
) -> Comparison:
    """Compare a baseline report document with the current one (or a fresh result).

    Both documents are validated first; a ``ReportError`` names the one that is not a
    report of this schema major version. ``*_file`` record where each document came from.
    """
    if isinstance(current, AuditResult):
        current = to_document(current)
    names = (
        baseline_file.path if baseline_file else "the baseline",
        current_file.path if current_file else "the current run",
    )
    check_document(baseline, names[0])
    check_document(current, names[1])
    changes = _finding_changes(baseline, current)
    metric_changes, compared, not_judged = _metric_changes(baseline, current)
    gate = current["gate"]
    return Comparison(
        baseline=_side(baseline, baseline_file),
        current=_side(current, current_file),
        fail_on=gate["fail_on"],
        require_significance=gate["require_significance"],
        warnings=tuple(_warnings(baseline, current)),
        new=tuple(changes["new"]),
        resolved=tuple(changes["resolved"]),
        worsened=tuple(changes["worsened"]),
        improved=tuple(changes["improved"]),
        unchanged=len(changes["unchanged"]),
        metric_changes=tuple(metric_changes),
        metrics_compared=compared,
        metrics_not_judged=not_judged,
    )


def to_diff_document(comparison: Comparison) -> dict[str, Any]:
    """The ``rai-audit diff --format json`` document (docs/diff.md)."""
    plain = asdict(comparison)
    return {
        "format": DIFF_FORMAT,
        "got_worse": comparison.got_worse,
        "baseline": plain["baseline"],
        "current": plain["current"],
        "fail_on": comparison.fail_on,
        "require_significance": comparison.require_significance,
        "warnings": plain["warnings"],
        "findings": {
            "new": plain["new"],
            "resolved": plain["resolved"],
            "worsened": plain["worsened"],
            "improved": plain["improved"],
            "unchanged": comparison.unchanged,
        },
        "metric_changes": plain["metric_changes"],
        "metrics_compared": comparison.metrics_compared,
        "metrics_not_judged": comparison.metrics_not_judged,
    }


def diff_json(comparison: Comparison) -> str:
    document = to_diff_document(comparison)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


__all__ = [
    "LoadedReport",
    "ReportError",
    "baseline_of",
    "beyond_intervals",
    "check_document",
    "compare",
    "diff_json",
    "load_report",
    "to_diff_document",
]
