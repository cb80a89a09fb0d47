"""The comparisons the engine records (AuditResult.comparisons), and the JUnit cases made of them.

A planted table whose selection and base rates are known by construction: the records must be
the comparisons computed here with pandas, each with its outcome, and the JUnit report must
list them as cases without judging anything again. A plugin's check, which the renderer knows
nothing about, must appear as its own suite with its finding.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST_N_BOOT
from test_reports import CORE_CHECKS, PluginCheck, known_request, known_table

from audit.api import AuditRequest, run_audit
from audit.core.findings import Comparison, ComparisonOutcome
from audit.core.result import AuditResult
from audit.fairness.metrics import DISPARITIES
from reports.junit_report import JunitFormatter

MIN_GROUP_SIZE = 30
# (sex, race): rows, selected rows, share of positive labels. Race Z is too small to measure,
# alone and in every intersection.
CELLS = {
    ("F", "X"): (120, 60, 0.3),
    ("F", "Y"): (80, 24, 0.6),
    ("F", "Z"): (10, 5, 0.5),
    ("M", "X"): (150, 90, 0.3),
    ("M", "Y"): (60, 27, 0.6),
    ("M", "Z"): (12, 6, 0.5),
}
SLICES = (("sex",), ("race",), ("sex", "race"))
NO_SCORES = "the audit has no scores, only decisions (pass --scores)"


def _planted() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    parts = []
    for (sex, race), (rows, selected, positive) in CELLS.items():
        decision = np.zeros(rows, dtype=int)
        decision[:selected] = 1
        label = (rng.random(rows) < positive).astype(int)
        parts.append(pd.DataFrame({"sex": sex, "race": race, "label": label, "decision": decision}))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[pd.DataFrame, AuditResult]:
    frame = _planted()
    path = tmp_path_factory.mktemp("planted") / "planted.csv"
    frame.to_csv(path, index=False)
    request = AuditRequest(
        data=path,
        target="label",
        sensitive=("sex", "race"),
        predictions="decision",
        positive_label="1",
        search_config=False,
        policy_overrides={"n_boot": FAST_N_BOOT, "seed": 3, "min_group_size": MIN_GROUP_SIZE},
    )
    return frame, run_audit(request, checks=CORE_CHECKS)


def _groups(frame: pd.DataFrame, feature: tuple[str, ...]) -> pd.DataFrame:
    """Per group of a slice: its rows, selection rate and base rate, keyed by label tuples."""
    table = frame.groupby(list(feature)).agg(
        n=("decision", "size"), selection=("decision", "mean"), base=("label", "mean")
    )
    table.index = [key if isinstance(key, tuple) else (key,) for key in table.index]
    return table


def _recorded(result: AuditResult, check: str) -> list[Comparison]:
    return [comparison for comparison in result.comparisons if comparison.check == check]


def test_four_fifths_records_each_group_against_the_most_selected(
    planted: tuple[pd.DataFrame, AuditResult],
) -> None:
    frame, result = planted
    expected = {}
    for feature in SLICES:
        measured = _groups(frame, feature).query("n >= @MIN_GROUP_SIZE")
        top, highest = measured["selection"].idxmax(), measured["selection"].max()
        for group, rate in measured["selection"].items():
            if group != top:
                expected[(feature, group)] = (rate / highest, top)
    recorded = _recorded(result, "fairness.four_fifths")
    assert len(recorded) == len(expected)
    for comparison in recorded:
        evidence = comparison.evidence
        group, top = evidence.groups
        ratio, expected_top = expected[(evidence.feature, group)]
        assert top == expected_top
        assert evidence.value == pytest.approx(ratio)
        assert comparison.outcome == ("violated" if ratio < 0.8 else "passed")
    assert {c.outcome for c in recorded} == {"violated", "passed"}  # both are planted


def test_base_rate_gaps_group_sizes_and_disparities_are_recorded_per_slice(
    planted: tuple[pd.DataFrame, AuditResult],
) -> None:
    frame, result = planted
    gaps = {c.evidence.feature: c for c in _recorded(result, "data.base_rate_gap")}
    sizes = {c.evidence.feature: c for c in _recorded(result, "data.small_groups")}
    assert set(gaps) == set(sizes) == set(SLICES)
    judged = [spec.name for spec in DISPARITIES if spec.check == "fairness.disparity"]
    disparities = {
        (c.evidence.feature, c.evidence.metric): c for c in _recorded(result, "fairness.disparity")
    }
    assert set(disparities) == {(feature, metric) for feature in SLICES for metric in judged}
    for feature in SLICES:
        groups = _groups(frame, feature)
        measured = groups.query("n >= @MIN_GROUP_SIZE")
        gap = measured["base"].max() - measured["base"].min()
        assert gaps[feature].evidence.value == pytest.approx(gap)
        assert gaps[feature].outcome == ("violated" if gap > 0.1 else "passed")
        small = set(groups.index[groups["n"] < MIN_GROUP_SIZE])
        assert sizes[feature].outcome == ("violated" if small else "passed")
        if small:
            assert set(sizes[feature].evidence.groups) == small
        rates = measured["selection"]
        parity = disparities[(feature, "demographic_parity_ratio")].evidence
        assert parity.value == pytest.approx(rates.min() / rates.max())
        difference = disparities[(feature, "demographic_parity_difference")].evidence
        assert difference.value == pytest.approx(rates.max() - rates.min())
    for comparison in disparities.values():
        defined = comparison.evidence.value is not None
        assert (comparison.outcome != "undefined") == defined
    # No scores: every calibration gap is recorded, undefined with the reason.
    calibration = _recorded(result, "fairness.calibration_gap")
    assert {c.evidence.feature for c in calibration} == set(SLICES)
    for comparison in calibration:
        assert comparison.outcome is ComparisonOutcome.UNDEFINED
        assert comparison.evidence.details["undefined"] == NO_SCORES


def test_each_violated_comparison_is_held_by_one_finding(
    planted: tuple[pd.DataFrame, AuditResult],
) -> None:
    _, result = planted
    rows = [row for finding in result.findings for row in finding.measurements()]
    for comparison in result.comparisons:
        holders = [
            row
            for row in rows
            if row.check == comparison.check and row.evidence == comparison.evidence
        ]
        assert len(holders) == (comparison.outcome is ComparisonOutcome.VIOLATED)
    assert len(rows) == sum(c.outcome is ComparisonOutcome.VIOLATED for c in result.comparisons)
    violated = Counter(c.check for c in result.comparisons if c.outcome == "violated")
    for run in result.checks:
        assert run.violations == violated[run.id], run.id


def _suites(result: AuditResult) -> dict[str, list[ET.Element]]:
    root = ET.fromstring(JunitFormatter().render(result).encode("utf-8"))
    return {suite.get("name", ""): suite.findall("testcase") for suite in root.findall("testsuite")}


def test_junit_lists_the_recorded_comparisons(planted: tuple[pd.DataFrame, AuditResult]) -> None:
    _, result = planted
    suites = _suites(result)
    names = {case.get("name") for case in suites["fairness.four_fifths"]}
    assert names == {
        f"selection_rate_ratio for {'×'.join(c.evidence.feature)}={'/'.join(c.evidence.groups[0])}"
        for c in _recorded(result, "fairness.four_fifths")
    }
    for case in suites["fairness.calibration_gap"]:
        skipped = case.find("skipped")
        assert skipped is not None and skipped.get("message") == f"undefined: {NO_SCORES}"
    assert len(suites["fairness.calibration_gap"]) == len(SLICES)
    failing = [
        case for cases in suites.values() for case in cases if case.find("failure") is not None
    ]
    assert len(failing) == len(result.gate.violations)


def test_a_plugin_check_is_a_suite_with_its_finding(tmp_path: Path) -> None:
    result = run_audit(known_request(known_table(tmp_path)), checks=(*CORE_CHECKS, PluginCheck()))
    (finding,) = [f for f in result.findings if f.check == "plugin.custom"]
    (violation,) = [v for v in result.gate.violations if v.finding == finding.id]
    (case,) = _suites(result)["plugin.custom"]
    assert case.get("classname") == "plugin.custom"
    assert case.get("name") == finding.fingerprint
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == violation.reason
    details = failure.text or ""
    for line in (finding.title, f"finding: {finding.id}", "custom_score: 0.420"):
        assert line in details
    assert "accountable: regulator" in details
