"""One finding per cause (audit/core/causes.py): merging, intersections, fingerprints, old
baselines.

The unit tests build findings by hand, so that each rule is seen alone; the demo tests read
the bundled Adult audit, where the rules have to give a handful of findings a reviewer can
act on.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import adult_request
from typer.testing import CliRunner

from audit.api import run_audit
from audit.cli import app
from audit.core.causes import cause_fingerprint, one_finding_per_cause
from audit.core.check_knowledge import causes
from audit.core.compare import baseline_of, load_report
from audit.core.findings import Evidence, Finding, RelatedEvidence, Role, Severity, fingerprint
from audit.core.gate import evaluate_gate
from audit.core.policy import load_policy
from audit.core.result import AuditResult
from audit.core.serialize import to_document, validate_document

ORDER = load_policy().headline_order
CAUSES = {
    "fairness.disparity": "fairness.disparity",
    "fairness.four_fifths": "fairness.disparity",
}


def measured(
    check: str,
    metric: str,
    feature: tuple[str, ...],
    value: float,
    interval: tuple[float, float] | None,
    severity: Severity,
    bound: str = "min",
    threshold: float = 0.8,
    references: tuple[str, ...] = ("ref",),
    accountable: Role = Role.DEVELOPER,
) -> Finding:
    return Finding(
        id=f"{check}:{metric[:3]}{'-'.join(feature)}",
        fingerprint=fingerprint(check, feature, metric),
        check=check,
        title=f"{metric} for {'×'.join(feature)} is {value}",
        severity=severity,
        roles=(accountable,),
        accountable=accountable,
        consulted=(),
        actions={accountable: f"act on {metric}"},
        evidence=Evidence(
            metric=metric,
            value=value,
            interval=interval,
            threshold=threshold,
            bound=bound,
            feature=feature,
            groups=(("a",), ("b",)),
            n=(100, 100),
            statistically_clear=True,
        ),
        recommendation="fix it",
        references=references,
        severity_reason=f"{severity.value.capitalize()} because {value} is past {threshold}.",
    )


def test_measurements_of_one_slice_are_one_finding_headed_by_the_most_severe() -> None:
    sex = ("sex",)
    found = [
        measured(
            "fairness.disparity",
            "demographic_parity_difference",
            sex,
            0.19,
            (0.17, 0.21),
            Severity.HIGH,
            bound="max",
            threshold=0.1,
        ),
        measured(
            "fairness.disparity",
            "demographic_parity_ratio",
            sex,
            0.28,
            (0.25, 0.31),
            Severity.CRITICAL,
        ),
        measured(
            "fairness.four_fifths",
            "selection_rate_ratio",
            sex,
            0.28,
            (0.25, 0.31),
            Severity.CRITICAL,
            references=("EEOC 1607.4(D)",),
            accountable=Role.DEPLOYER,
        ),
        measured(
            "fairness.disparity", "equalized_odds_ratio", sex, 0.10, (0.05, 0.2), Severity.CRITICAL
        ),
    ]
    judged = one_finding_per_cause(found, CAUSES, ORDER)
    (finding,) = judged.findings
    # Among the three critical ones, the policy's first metric heads it.
    assert finding.evidence.metric == "demographic_parity_ratio"
    assert finding.severity is Severity.CRITICAL
    assert (
        finding.fingerprint
        == "fairness.disparity|sex"
        == cause_fingerprint("fairness.disparity", sex)
    )
    assert finding.severity_reason.startswith("Critical because the demographic parity ratio ")
    related = [(row.check, row.evidence.metric, row.severity) for row in finding.related_evidence]
    assert related == [
        ("fairness.four_fifths", "selection_rate_ratio", Severity.CRITICAL),
        ("fairness.disparity", "equalized_odds_ratio", Severity.CRITICAL),
        ("fairness.disparity", "demographic_parity_difference", Severity.HIGH),
    ]
    # The four-fifths rule's references and the deployer's action travel with it.
    assert finding.references == ("ref", "EEOC 1607.4(D)")
    assert finding.consulted == (Role.DEPLOYER,)
    assert finding.actions[Role.DEPLOYER] == "act on selection_rate_ratio"
    assert dict(judged.violations) == {"fairness.disparity": 3, "fairness.four_fifths": 1}


def test_a_finding_of_another_check_stands_alone() -> None:
    base_rate = measured(
        "data.base_rate_gap",
        "base_rate_gap",
        ("sex",),
        0.19,
        (0.18, 0.2),
        Severity.LOW,
        bound="max",
        threshold=0.1,
    )
    (finding,) = one_finding_per_cause([base_rate], CAUSES, ORDER).findings
    assert finding == base_rate


def test_fingerprint_is_the_cause_and_slice_whichever_metric_heads_it() -> None:
    race = ("race",)
    one = measured(
        "fairness.disparity", "demographic_parity_ratio", race, 0.5, (0.4, 0.6), Severity.CRITICAL
    )
    other = measured(
        "fairness.disparity",
        "equal_opportunity_difference",
        race,
        0.3,
        (0.2, 0.4),
        Severity.CRITICAL,
        bound="max",
        threshold=0.1,
    )
    (first,) = one_finding_per_cause([one], CAUSES, ORDER).findings
    (second,) = one_finding_per_cause([other], CAUSES, ORDER).findings
    assert first.fingerprint == second.fingerprint == "fairness.disparity|race"
    assert first.id == second.id


@pytest.mark.parametrize(
    ("value", "folded"),
    [
        (0.30, True),  # inside the parent's interval [0.25, 0.31]: the parent's gap seen again
        (0.40, True),  # a smaller gap than the parent's
        (0.20, False),  # below the parent's whole interval: intersectional harm, on its own
    ],
)
def test_an_intersection_joins_its_parent_unless_its_gap_is_clearly_larger(
    value: float, folded: bool
) -> None:
    sex = measured(
        "fairness.disparity",
        "demographic_parity_ratio",
        ("sex",),
        0.28,
        (0.25, 0.31),
        Severity.CRITICAL,
    )
    both = measured(
        "fairness.disparity",
        "demographic_parity_ratio",
        ("sex", "race"),
        value,
        (value - 0.1, value + 0.1),
        Severity.CRITICAL,
    )
    judged = one_finding_per_cause([both, sex], CAUSES, ORDER)
    if folded:
        (finding,) = judged.findings
        assert finding.fingerprint == "fairness.disparity|sex"
        (row,) = finding.related_evidence
        assert row.evidence.feature == ("sex", "race") and row.evidence.value == value
    else:
        assert [finding.fingerprint for finding in judged.findings] == [
            "fairness.disparity|sex",
            "fairness.disparity|sex/race",
        ] or [finding.fingerprint for finding in judged.findings] == [
            "fairness.disparity|sex/race",
            "fairness.disparity|sex",
        ]
        assert all(not finding.related_evidence for finding in judged.findings)


def test_an_intersection_whose_parent_does_not_violate_that_metric_stands_alone() -> None:
    sex = measured(
        "fairness.disparity",
        "equal_opportunity_difference",
        ("sex",),
        0.15,
        (0.12, 0.18),
        Severity.HIGH,
        bound="max",
        threshold=0.1,
    )
    both = measured(
        "fairness.disparity",
        "demographic_parity_ratio",
        ("sex", "race"),
        0.5,
        (0.4, 0.6),
        Severity.CRITICAL,
    )
    assert len(one_finding_per_cause([sex, both], CAUSES, ORDER).findings) == 2


# --- the bundled demo ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> AuditResult:
    return run_audit(adult_request())


def test_the_demo_has_a_handful_of_findings_each_naming_its_cause(demo: AuditResult) -> None:
    serious = [f for f in demo.findings if f.severity.rank >= Severity.MEDIUM.rank]
    assert len(serious) <= 8
    keys = [f.fingerprint for f in serious]
    assert len(keys) == len(set(keys))
    # The gap of each slice is one finding; sex×race stands alone, its gap being clearly
    # larger than either parent's (0.04 against 0.28 and 0.16).
    fairness = {f.fingerprint: f for f in serious if f.fingerprint.startswith("fairness.dis")}
    assert set(fairness) == {
        "fairness.disparity|sex",
        "fairness.disparity|race",
        "fairness.disparity|sex/race",
    }
    sex = fairness["fairness.disparity|sex"]
    assert sex.evidence.metric == "demographic_parity_ratio"
    assert sex.evidence.value == pytest.approx(0.281, abs=5e-4)
    metrics = {row.evidence.metric for row in sex.related_evidence}
    assert {"selection_rate_ratio", "demographic_parity_difference", "equalized_odds_ratio"} <= (
        metrics
    )
    # Each violated disparity of a slice is in its finding; every metric stays in the table.
    for key, finding in fairness.items():
        feature = finding.evidence.feature
        violated = {
            row.evidence.metric
            for row in finding.measurements()
            if row.check == "fairness.disparity" and row.evidence.feature == feature
        }
        assert violated, key
    assert len(demo.disparities) == 3 * 6 * 2
    # Direct use of sex and its flips are one finding.
    (uses_sex,) = [f for f in serious if f.fingerprint == "explain.direct_use|sex"]
    assert {row.check for row in uses_sex.measurements()} == {
        "explain.direct_use",
        "explain.counterfactual_flip",
    }
    # The gate and the counts read the same findings: causes.
    assert len(demo.gate.violations) == len(serious)
    runs = {run.id: run for run in demo.checks}
    assert runs["fairness.four_fifths"].findings == 0
    assert runs["fairness.four_fifths"].violations == sum(
        row.check == "fairness.four_fifths" for f in demo.findings for row in f.measurements()
    )


def test_fingerprints_do_not_depend_on_the_seed(demo: AuditResult) -> None:
    other = run_audit(adult_request(seed=11, n_boot=100))
    serious = {f.fingerprint for f in demo.findings if f.severity.rank >= Severity.MEDIUM.rank}
    again = {f.fingerprint for f in other.findings if f.severity.rank >= Severity.MEDIUM.rank}
    assert serious == again


def test_severity_reasons_state_the_numbers_of_their_finding(demo: AuditResult) -> None:
    for finding in demo.findings:
        assert finding.severity_reason.startswith(finding.severity.value.capitalize() + " ")
        evidence = finding.evidence
        if finding.check == "fairness.disparity" and evidence.interval is not None:
            low, high = evidence.interval
            assert f"{evidence.value:.3f}" in finding.severity_reason
            assert f"[{low:.3f}, {high:.3f}]" in finding.severity_reason
    (sex,) = [f for f in demo.findings if f.fingerprint == "fairness.disparity|sex"]
    low, high = sex.evidence.interval or (0.0, 0.0)
    assert sex.severity_reason == (
        f"Critical because the demographic parity ratio {sex.evidence.value:.3f} is below the "
        f"critical level 0.600 (minimum 0.800), and its whole confidence interval "
        f"[{low:.3f}, {high:.3f}] is below the minimum."
    )
    capped = [f for f in demo.findings if f.check == "data.base_rate_gap"]
    assert capped and all("property of the labels" in f.severity_reason for f in capped)


def test_the_report_carries_causes_and_validates(demo: AuditResult) -> None:
    document = to_document(demo)
    validate_document(document)
    assert document["schema_version"] == "1.5.0"
    merged = [f for f in document["findings"] if f["related_evidence"]]
    assert merged
    row = merged[0]["related_evidence"][0]
    assert set(row) == {"check", "title", "severity", "severity_reason", "evidence"}


# --- old baselines ------------------------------------------------------------------------------


def as_schema_1_2(document: dict[str, Any]) -> dict[str, Any]:
    """The document as rai-audit 1.2 wrote it: one finding per metric, keyed by metric."""
    old = json.loads(json.dumps(document))
    old["schema_version"] = "1.2.0"
    findings = []
    for finding in old["findings"]:
        rows = [
            {
                "check": finding["check"],
                "title": finding["title"],
                "severity": finding["severity"],
                "evidence": finding["evidence"],
            },
            *finding["related_evidence"],
        ]
        for row in rows:
            evidence = row["evidence"]
            key: tuple[Any, ...] = (tuple(evidence["feature"]),)
            if row["check"] == "fairness.disparity":
                key = (*key, evidence["metric"], evidence["details"]["comparison"])
            elif row["check"] == "fairness.four_fifths":
                key = (*key, tuple(evidence["groups"][0]))
            if row["check"] not in CAUSES and row["check"] not in causes():
                entry = dict(finding)
                entry.pop("severity_reason")
                entry.pop("related_evidence")
                findings.append(entry)
                continue
            entry = {
                k: v for k, v in finding.items() if k not in ("severity_reason", "related_evidence")
            }
            entry.update(
                check=row["check"],
                title=row["title"],
                severity=row["severity"],
                evidence=evidence,
                fingerprint=fingerprint(row["check"], *key),
            )
            findings.append(entry)
    old["findings"] = findings
    for check in old["checks"]:
        check.pop("violations", None)
    for disparity in old["disparities"]:
        disparity.pop("judged_by", None)
    old["disparities"] = [
        d for d in old["disparities"] if d["metric"] != "calibration_error_difference"
    ]
    return old


def test_an_old_baseline_matches_the_findings_of_its_causes(
    demo: AuditResult, tmp_path: Path
) -> None:
    document = to_document(demo)
    old = as_schema_1_2(document)
    assert len(old["findings"]) > len(document["findings"])
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), "utf-8")
    baseline = baseline_of(load_report(path))
    current = {f.fingerprint for f in demo.findings}
    folded = {
        cause_fingerprint(causes()[row.check], row.evidence.feature)
        for f in demo.findings
        for row in f.related_evidence
    }
    assert set(baseline.severities) == current | folded
    assert folded - current  # the demo folds an intersection into its parent
    # Against its own findings as 1.2 wrote them, the same run is no regression.
    gate = evaluate_gate(demo.findings, load_policy(), baseline)
    assert gate.passed, gate.violations
    # diff sees the same causes: nothing new, resolved, worse or better.
    new_path = tmp_path / "new.json"
    new_path.write_text(json.dumps(document), "utf-8")
    result = CliRunner().invoke(app, ["diff", str(path), str(new_path), "--format", "json"])
    diff = json.loads(result.stdout)
    for kind in ("new", "resolved", "worsened", "improved"):
        assert diff["findings"][kind] == [], kind
    assert diff["findings"]["unchanged"] >= len(document["findings"])


def test_a_milder_old_finding_makes_its_cause_worse(demo: AuditResult, tmp_path: Path) -> None:
    old = as_schema_1_2(to_document(demo))
    for finding in old["findings"]:
        if finding["evidence"]["feature"] == ["sex"] and finding["check"].startswith("fairness."):
            finding["severity"] = "low"
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old), "utf-8")
    gate = evaluate_gate(demo.findings, load_policy(), baseline_of(load_report(path)))
    assert [v.kind for v in gate.violations] == ["worsened"]
    (worse,) = gate.violations
    assert worse.finding == next(
        f.id for f in demo.findings if f.fingerprint == "fairness.disparity|sex"
    )


def test_related_evidence_round_trips_through_the_dataclass() -> None:
    row = RelatedEvidence(
        "fairness.disparity", "m is 1.0", Severity.HIGH, "High because.", Evidence("m", 1.0)
    )
    finding = replace(
        measured(
            "fairness.disparity", "demographic_parity_ratio", ("sex",), 0.5, None, Severity.MEDIUM
        ),
        related_evidence=(row,),
    )
    assert finding.measurements()[1] is row
    assert finding.measurements()[0].severity is Severity.MEDIUM


def test_every_grade_that_no_threshold_decides_has_a_reason() -> None:
    from audit.core.check import USUAL_SEVERITY
    from audit.core.check_knowledge import check_table

    for check, info in check_table().items():
        for grade in info.severity:
            if grade not in USUAL_SEVERITY:
                assert grade in info.reasons, (check, grade)
        for grade in info.reasons:
            assert grade in info.severity, (check, grade)
