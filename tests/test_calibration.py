"""Calibration error per group: against numpy on the raw rows, the same however rows are read.

The expected values come from each row's score, label and groups, binned with ``np.digitize``
and summed per bin with pandas, never from the engine's per-cell tables.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import ADULT_DATA, ADULT_MODEL, adult_request, merged_both_ways

from audit.api import AuditRequest, run_audit
from audit.core.check import Measurement
from audit.core.registry import CHECKS, AuditContext
from audit.core.result import SCHEMA_VERSION, AuditResult, GroupStatus
from audit.core.serialize import to_document, validate_document
from audit.fairness.calibration import calibration_table
from reports.html_report import HtmlFormatter
from reports.markdown_report import MarkdownFormatter
from reports.model_card import ModelCardFormatter

MODEL, DATA = ADULT_MODEL, ADULT_DATA
FAIRNESS_CHECKS = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
SLICES = (("sex",), ("race",), ("sex", "race"))
EDGES = np.linspace(0.0, 1.0, 11)  # 10 equal-width bins on [0, 1]
MIN_GROUP_SIZE = 30  # the policy default
NAME = "calibration_error"


@dataclass
class ScoreCapture:
    """A check that keeps what the checks are given: every row's score and label in memory."""

    id: str = "test.score_capture"
    needs: tuple[str, ...] = ()
    seen: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        assert context.scores is not None
        self.seen.append((context.scores.copy(), context.labels.copy()))
        return ()


def adult_audit(
    chunk_rows: int | None = None, checks: tuple[Any, ...] = FAIRNESS_CHECKS, **policy: Any
) -> AuditResult:
    return run_audit(adult_request(chunk_rows=chunk_rows, **policy), checks)


def numpy_ece(scores: np.ndarray, labels: np.ndarray) -> float:
    """ECE from its definition: sum over bins of |sum of scores - positives|, over rows."""
    bins = np.digitize(scores, EDGES[1:-1])
    score_sums = np.bincount(bins, weights=scores, minlength=10)
    positives = np.bincount(bins, weights=labels, minlength=10)
    return float(np.abs(score_sums - positives).sum() / len(scores))


@pytest.fixture(scope="module")
def adult() -> tuple[AuditResult, pd.DataFrame]:
    capture = ScoreCapture()
    result = adult_audit(checks=(*FAIRNESS_CHECKS, capture))
    ((scores, labels),) = capture.seen
    frame = pd.read_csv(DATA)
    assert len(scores) == len(frame) == 16281
    np.testing.assert_array_equal(labels, (frame["income"] == ">50K").to_numpy())
    return result, frame.assign(score=scores, label=labels)


def groups_of(result: AuditResult, features: tuple[str, ...]) -> dict[tuple[str, ...], Any]:
    return {group.group: group for group in result.groups if group.feature == features}


def test_adult_calibration_error_equals_numpy_on_the_raw_rows(
    adult: tuple[AuditResult, pd.DataFrame],
) -> None:
    result, frame = adult
    assert frame["score"].between(0, 1).all()
    measured = 0
    for features in SLICES:
        groups = groups_of(result, features)
        for key, rows in frame.groupby(list(features)):
            group = groups[tuple(str(value) for value in key)]
            assert group.n == len(rows)
            if len(rows) < MIN_GROUP_SIZE:
                assert group.status is GroupStatus.INSUFFICIENT_DATA
                assert NAME not in group.metrics
                continue
            expected = numpy_ece(rows["score"].to_numpy(), rows["label"].to_numpy())
            assert group.metrics[NAME] == pytest.approx(expected, abs=1e-9), group.group
            assert NAME not in group.undefined
            low, high = group.ci[NAME]
            assert 0 <= low < high < 1
            measured += 1
    assert measured >= 10
    sexes = groups_of(result, ("sex",))
    # The figures, to the digits that the CPU's float32 kernels (which differ in the last bits
    # of the model's scores between machines) cannot move.
    assert sexes[("Female",)].metrics[NAME] == pytest.approx(0.0116984293, abs=1e-9)
    assert sexes[("Male",)].metrics[NAME] == pytest.approx(0.0174035837, abs=1e-9)


@pytest.mark.parametrize(
    ("chunk_rows", "policy"),
    [(3000, {}), (2500, {"exact_auc_rows": 0})],
    ids=["chunks-of-3000", "score-sketch"],
)
def test_streamed_calibration_error_equals_in_memory_bit_for_bit(
    adult: tuple[AuditResult, pd.DataFrame], chunk_rows: int, policy: dict[str, Any]
) -> None:
    whole, _ = adult
    streamed = adult_audit(chunk_rows, **policy)
    pairs = list(zip(streamed.groups, whole.groups, strict=True))
    assert sum(group.metrics.get(NAME) is not None for group, _ in pairs) >= 10
    for group, expected in pairs:
        # Intervals too: their draws do not depend on how ROC AUC was resampled.
        assert group.metrics.get(NAME) == expected.metrics.get(NAME)
        assert group.ci.get(NAME) == expected.ci.get(NAME)


def test_calibration_tables_of_any_split_merge_into_the_whole() -> None:
    rng = np.random.default_rng(5)
    rows = 5000
    cells = rng.integers(0, 7, rows)
    labels = rng.integers(0, 2, rows).astype(np.int8)
    scores = rng.random(rows)
    scores[:3] = [0.0, 1.0, 0.3]  # both ends and a bin edge
    whole = calibration_table(cells, 7, labels, scores)
    bounds = [0, 1, 1700, 1701, 4000, rows]
    pieces = [
        calibration_table(cells[lo:hi], 7, labels[lo:hi], scores[lo:hi])
        for lo, hi in pairwise(bounds)
    ]
    for merged in merged_both_ways(pieces):
        np.testing.assert_array_equal(merged.rows, whole.rows)
        np.testing.assert_array_equal(merged.score_units, whole.score_units)
    # Against the definition: per cell, bin and label, rows and rounded score sums.
    bins = np.digitize(scores, EDGES[1:-1])
    for cell, bin_, label in [(0, 0, 0), (3, 2, 1), (6, 9, 1)]:
        chosen = (cells == cell) & (bins == bin_) & (labels == label)
        assert whole.rows[cell, bin_, label] == chosen.sum()
        units = np.rint(scores[chosen] * 2**32).astype(np.int64).sum()
        assert whole.score_units[cell, bin_, label] == units
    assert whole.rows.sum() == rows and whole.outside_unit_interval == 0


def _decisions_audit(
    tmp_path: Path, scores: np.ndarray | None, chunk_rows: int | None = None
) -> AuditResult:
    rng = np.random.default_rng(2)
    rows = 600
    frame = pd.DataFrame(
        {
            "label": rng.integers(0, 2, rows),
            "sex": rng.choice(["F", "M"], rows),
            "decision": rng.integers(0, 2, rows),
        }
    )
    if scores is not None:
        frame["score"] = scores
    path = tmp_path / "decisions.csv"
    frame.to_csv(path, index=False)
    request = AuditRequest(
        data=path,
        target="label",
        sensitive=("sex",),
        predictions="decision",
        scores="score" if scores is not None else None,
        positive_label="1",
        chunk_rows=chunk_rows,
        search_config=False,
        policy_overrides={"n_boot": 50, "seed": 1},
    )
    return run_audit(request, FAIRNESS_CHECKS)


def test_without_scores_calibration_error_is_undefined_with_a_reason(tmp_path: Path) -> None:
    result = _decisions_audit(tmp_path, None)
    assert len(result.groups) == 2
    for group in result.groups:
        assert group.metrics[NAME] is None and group.ci[NAME] is None
        assert group.undefined[NAME] == ("the audit has no scores, only decisions (pass --scores)")


@pytest.mark.parametrize("chunk_rows", [None, 70])
def test_scores_outside_the_unit_interval_are_not_probabilities(
    tmp_path: Path, chunk_rows: int | None
) -> None:
    scores = np.random.default_rng(4).random(600)
    scores[[10, 500]] = [1.5, -0.25]  # in different chunks of 70 rows
    result = _decisions_audit(tmp_path, scores, chunk_rows)
    for group in result.groups:
        assert group.metrics[NAME] is None and group.ci[NAME] is None
        assert (
            group.undefined[NAME] == "the scores are not probabilities: 2 score(s) outside [0, 1]"
        )
        # ROC AUC ranks scores of any range, so it keeps its value.
        assert group.metrics["roc_auc"] is not None
    in_range = _decisions_audit(tmp_path, np.clip(scores, 0, 1), chunk_rows)
    assert all(group.metrics[NAME] is not None for group in in_range.groups)


def test_the_report_carries_it_and_validates(adult: tuple[AuditResult, pd.DataFrame]) -> None:
    result, _ = adult
    document = to_document(result)
    validate_document(document)
    assert document["schema_version"] == SCHEMA_VERSION == "1.5.0"
    female = next(g for g in document["groups"] if g["group"] == ["Female"])
    expected = groups_of(result, ("sex",))[("Female",)]
    assert female["metrics"][NAME] == expected.metrics[NAME]
    assert female["ci"][NAME] == list(expected.ci[NAME])
    # A minor version adds optional fields only: a 1.1 report without it stays valid.
    older = copy.deepcopy(document)
    older["schema_version"] = "1.1.0"
    for group in older["groups"]:
        for part in ("metrics", "ci"):
            group[part].pop(NAME, None)
    validate_document(older)


def test_every_report_lists_it(adult: tuple[AuditResult, pd.DataFrame]) -> None:
    result, _ = adult
    female = groups_of(result, ("sex",))[("Female",)]
    value = f"{female.metrics[NAME]:.3f}"
    low, high = female.ci[NAME]
    html = HtmlFormatter().render(result)
    # The column's name carries its meaning as a tooltip.
    assert re.search(
        r'<th scope="col" class="num"><span class="term" title="[^"]*calibrat[^"]*">'
        r"calibration error</span></th>",
        html,
    )
    assert f'{value}<br><span class="muted">[{low:.3f}, {high:.3f}]</span>' in html
    markdown = MarkdownFormatter().render(result)
    header = next(line for line in markdown.splitlines() if line.startswith("| Slice | Group"))
    assert header.endswith("| ECE |")
    row = next(line for line in markdown.splitlines() if "`Female` |" in line)
    assert row.endswith(f"| {value} |")
    card = ModelCardFormatter().render(result)
    assert "  - calibration error: The average gap between predicted probability" in card
    assert "| calibration error |" in card


# --- the calibration gap (fairness.calibration_gap) ---------------------------------------------


def test_the_calibration_gap_equals_numpy_between_groups_and_against_the_reference(
    adult: tuple[AuditResult, pd.DataFrame],
) -> None:
    result, frame = adult
    for features in SLICES:
        errors = {
            tuple(str(value) for value in key): (
                len(rows),
                numpy_ece(rows["score"].to_numpy(), rows["label"].to_numpy()),
            )
            for key, rows in frame.groupby(list(features))
        }
        measured = {group: ece for group, (n, ece) in errors.items() if n >= MIN_GROUP_SIZE}
        found = {
            d.comparison: d
            for d in result.disparities
            if d.feature == features and d.metric == "calibration_error_difference"
        }
        between = found["between_groups"]
        assert between.judged_by == "fairness.calibration_gap"
        expected = max(measured.values()) - min(measured.values())
        assert between.value == pytest.approx(expected, abs=1e-9)
        low, high = between.ci or (None, None)
        assert low is not None and high is not None and low <= between.value <= high
        lowest = min(measured, key=measured.__getitem__)
        highest = max(measured, key=measured.__getitem__)
        assert between.groups == (lowest, highest)
        largest = max(measured, key=lambda group: errors[group][0])
        reference = found["reference"]
        assert reference.reference_group == largest
        farthest = max(abs(ece - measured[largest]) for ece in measured.values())
        assert reference.value == pytest.approx(farthest, abs=1e-9)


def test_a_calibration_gap_past_its_threshold_is_a_finding_for_the_developer() -> None:
    result = adult_audit(
        thresholds={"calibration_error_difference": {"max": 0.004, "critical": 0.005}}
    )
    gaps = {
        d.feature: d
        for d in result.disparities
        if d.metric == "calibration_error_difference" and d.comparison == "between_groups"
    }
    findings = [f for f in result.findings if f.check == "fairness.calibration_gap"]
    assert findings
    (sex,) = [f for f in findings if f.fingerprint == "fairness.calibration_gap|sex"]
    assert sex.evidence.value == gaps[("sex",)].value
    assert sex.evidence.interval == gaps[("sex",)].ci
    assert sex.accountable.value == "developer" and [r.value for r in sex.consulted] == ["deployer"]
    assert any("Art. 15" in reference for reference in sex.references)
    assert "do not read a score as the same risk" in sex.recommendation
    # It gates like every finding at or above fail_on.
    gated = {violation.finding for violation in result.gate.violations}
    assert all(f.id in gated for f in findings if f.severity.rank >= 2)
    assert not result.gate.passed
    # Under the shipped threshold (0.05) the sex gap of 0.006 is no finding.
    assert gaps[("sex",)].value is not None and gaps[("sex",)].value < 0.05


def test_without_scores_the_calibration_gap_is_undefined_and_skips_nothing(
    tmp_path: Path,
) -> None:
    result = _decisions_audit(tmp_path, None)
    gaps = [d for d in result.disparities if d.metric == "calibration_error_difference"]
    assert len(gaps) == 2 and all(d.value is None for d in gaps)
    assert all(
        d.undefined == "the audit has no scores, only decisions (pass --scores)" for d in gaps
    )
    assert not any(f.check == "fairness.calibration_gap" for f in result.findings)
