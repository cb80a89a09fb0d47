"""Significance beside the four-fifths rule: Fisher's exact p-value and the shortfall of every
selection-rate ratio, and a gate that can require both practical and statistical significance.

The p-values are checked against scipy on counts taken from the raw rows with pandas, the
shortfalls against hand computations, and the gate through the CLI's exit codes.
"""

from __future__ import annotations

import json
import math
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Cli
from scipy.stats import fisher_exact

from audit.api import AuditRequest, run_audit
from audit.core.compare import compare
from audit.core.findings import Severity
from audit.core.gate import Graded, finding_violates
from audit.core.registry import CHECKS
from audit.core.result import AuditResult
from audit.core.serialize import to_document, validate_document
from audit.fairness.significance import selection_test
from reports import render
from reports.markdown_report import md_text

FAIRNESS_CHECKS = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
# The planted gap: group b is selected at half group a's rate, on enough rows to be sure.
PLANTED = {"a": (600, 300), "b": (400, 100)}
# A small group selected at 0.79 of the large group's rate: below four-fifths, but 60 rows
# cannot tell that from chance. Its gap in points (8.3) is within the parity difference's 10.
SMALL = {"large": (1000, 400), "small": (60, 19)}


def _table(groups: dict[str, tuple[int, int]], seed: int = 0) -> pd.DataFrame:
    """Rows per group with exactly ``selected`` positive decisions; labels at random."""
    rng = np.random.default_rng(seed)
    parts = []
    for group, (rows, selected) in groups.items():
        decision = np.zeros(rows, dtype=int)
        decision[rng.choice(rows, selected, replace=False)] = 1
        parts.append(
            pd.DataFrame(
                {
                    "group": group,
                    "decision": decision,
                    "label": (rng.random(rows) < 0.5).astype(int),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def _write(frame: pd.DataFrame, tmp_path: Path) -> Path:
    path = tmp_path / "decisions.csv"
    frame.to_csv(path, index=False)
    return path


def _audit(path: Path, chunk_rows: int | None = None, **policy: Any) -> AuditResult:
    return run_audit(
        AuditRequest(
            data=path,
            target="label",
            sensitive=("group",),
            predictions="decision",
            positive_label="1",
            chunk_rows=chunk_rows,
            search_config=False,
            policy_overrides={"n_boot": 50, "seed": 1, **policy},
        ),
        FAIRNESS_CHECKS,
    )


def _expected_p(frame: pd.DataFrame, group: str, top: str) -> float:
    """scipy's two-sided Fisher's exact test on counts taken from the rows."""
    counted = frame.groupby("group")["decision"].agg(["sum", "count"])
    selected, rows = (int(value) for value in counted.loc[group])
    top_selected, top_rows = (int(value) for value in counted.loc[top])
    table = [[selected, rows - selected], [top_selected, top_rows - top_selected]]
    return float(fisher_exact(table, alternative="two-sided").pvalue)


def _ratio_details(result: AuditResult, check: str, metric: str) -> dict[str, Any]:
    (compared,) = (
        c for c in result.comparisons if c.check == check and c.evidence.metric == metric
    )
    return compared.evidence.details


@pytest.mark.parametrize(
    ("groups", "low", "top", "shortfall", "significant"),
    [
        # 0.8 x 300/600 x 400 = 160 selections of b reach the limit; it has 100.
        (PLANTED, "b", "a", 60, True),
        # 0.8 x 400/1000 x 60 = 19.2: one more than its 19.
        (SMALL, "small", "large", 1, False),
    ],
)
def test_p_value_and_shortfall_of_every_selection_ratio(
    tmp_path: Path,
    groups: dict[str, tuple[int, int]],
    low: str,
    top: str,
    shortfall: int,
    significant: bool,
) -> None:
    frame = _table(groups)
    result = _audit(_write(frame, tmp_path))
    expected = _expected_p(frame, low, top)
    assert (expected < 0.05) is significant
    four_fifths = _ratio_details(result, "fairness.four_fifths", "selection_rate_ratio")
    # The four-fifths rule is merged under the demographic-parity ratio, the same pair.
    parity = _ratio_details(result, "fairness.disparity", "demographic_parity_ratio")
    for details in (four_fifths, parity):
        assert details["p_value"] == pytest.approx(expected, rel=1e-12)
        assert details["shortfall"] == shortfall
        assert "not_significant" not in details  # the policy does not require significance
    # The shortfall is exactly what removes the gap: one selection fewer does not.
    rows, selected = groups[low]
    top_rate = Fraction(groups[top][1], groups[top][0])
    limit = Fraction("0.8")
    assert Fraction(selected + shortfall, rows) / top_rate >= limit
    assert Fraction(selected + shortfall - 1, rows) / top_rate < limit


def test_shortfall_is_exact_where_floats_round_up() -> None:
    # 0.8 x 3/4 x 50 is 30 exactly, but 3.0000000000000004 x 10 in floats.
    assert math.ceil(0.8 * (30 / 40) * 50) == 31
    tested = selection_test(0, 50, 30, 40, 0.8)
    assert tested.shortfall == 30
    assert selection_test(30, 50, 30, 40, 0.8).shortfall == 0
    assert selection_test(45, 50, 30, 40, 0.8).shortfall == 0  # above the top group
    assert tested.p_value == pytest.approx(
        fisher_exact([[0, 50], [30, 10]], alternative="two-sided").pvalue, rel=1e-12
    )


def test_streamed_audit_gives_the_same_p_values(tmp_path: Path) -> None:
    path = _write(_table(SMALL | {"mid": (500, 180)}), tmp_path)
    whole, streamed = _audit(path), _audit(path, chunk_rows=333)
    significance = [
        [
            (c.fingerprint, c.evidence.details.get("p_value"), c.evidence.details.get("shortfall"))
            for c in result.comparisons
        ]
        for result in (whole, streamed)
    ]
    assert significance[1] == significance[0]
    assert sum(p is not None for _, p, _ in significance[0]) == 3  # two groups, one parity ratio


def _run(cli: Cli, data: Path, out: Path, config: str) -> tuple[int, dict[str, Any]]:
    policy = cli.cwd / "policy.toml"
    policy.write_text(config, encoding="utf-8")
    result = cli(
        "run",
        data,
        "--predictions",
        "decision",
        "--positive-label",
        "1",
        "--target",
        "label",
        "--sensitive",
        "group",
        "--config",
        policy,
        "--out",
        out,
        "--n-boot",
        "50",
        "--format",
        "json",
    )
    assert result.exit_code in (0, 1), result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    return result.exit_code, document


# The label-based gaps of random labels are loosened, so that the selection rates alone
# decide the gate.
LABEL_GAPS_LOOSENED = """
[thresholds.equalized_odds_ratio]
min = 0.1
[thresholds.equalized_odds_difference]
max = 0.5
[thresholds.equal_opportunity_difference]
max = 0.5
"""


@pytest.mark.parametrize(
    ("groups", "required", "exit_code"),
    [
        (SMALL, False, 1),  # below four-fifths fails the gate, as before
        (SMALL, True, 0),  # ... unless it must be significant too, and is not
        (PLANTED, True, 1),  # a significant gap fails it either way
    ],
)
def test_gate_requires_significance_when_the_policy_says(
    cli: Cli,
    tmp_path: Path,
    groups: dict[str, tuple[int, int]],
    required: bool,
    exit_code: int,
) -> None:
    config = (
        f"four_fifths_requires_p_value = {str(required).lower()}\n"
        f"four_fifths_alpha = 0.05\n{LABEL_GAPS_LOOSENED}"
    )
    if groups is PLANTED:
        config += "[thresholds.demographic_parity_difference]\nmax = 0.5\n"
    code, document = _run(cli, _write(_table(groups), tmp_path), tmp_path / "out", config)
    assert code == exit_code
    assert document["gate"]["p_value_alpha"] == (0.05 if required else None)
    assert document["gate"]["passed"] is (exit_code == 0)
    (finding,) = [f for f in document["findings"] if f["check"] == "fairness.disparity"]
    rows = [finding, *finding["related_evidence"]]
    ratios = [r for r in rows if r["evidence"]["metric"].endswith("_ratio")]
    assert {r["evidence"]["metric"] for r in ratios} >= {
        "demographic_parity_ratio",
        "selection_rate_ratio",
    }
    excused = [r for r in ratios if "not_significant" in r["evidence"]["details"]]
    # The finding says in its evidence why a ratio fails no gate.
    assert len(excused) == (len(ratios) if required and exit_code == 0 else 0)
    for row in excused:
        assert "four_fifths_requires_p_value" in row["evidence"]["details"]["not_significant"]


def test_a_finding_excused_by_its_ratio_still_fails_on_another_measurement() -> None:
    chance = Graded(Severity.MEDIUM, False, 0.4)
    gap = Graded(Severity.MEDIUM, False, None)  # an equalized-odds gap: no p-value
    significant = Graded(Severity.HIGH, True, 0.001)
    assert finding_violates((chance,), Severity.MEDIUM, False, 0.05) is False
    assert finding_violates((chance,), Severity.MEDIUM, False, None) is True
    assert finding_violates((chance, gap), Severity.MEDIUM, False, 0.05) is True
    assert finding_violates((significant, chance), Severity.MEDIUM, False, 0.05) is True
    # Below fail_on, the related measurements cannot fail it either.
    assert finding_violates((chance, gap), Severity.HIGH, False, 0.05) is False


def test_alpha_outside_the_unit_interval_is_a_one_line_error(cli: Cli, tmp_path: Path) -> None:
    policy = cli.cwd / "policy.toml"
    policy.write_text("four_fifths_alpha = 5\n", encoding="utf-8")
    data = _write(_table(SMALL), tmp_path)
    cli.input_error(
        (
            "run",
            data,
            "--predictions",
            "decision",
            "--target",
            "label",
            "--sensitive",
            "group",
            "--config",
            policy,
        ),
        "four_fifths_alpha must lie in (0, 1), got 5",
    )


def _loosened(**policy: Any) -> dict[str, Any]:
    """Policy overrides with the label-based gaps loosened (as LABEL_GAPS_LOOSENED)."""
    thresholds = {
        "equalized_odds_ratio": {"min": 0.1},
        "equalized_odds_difference": {"max": 0.5},
        "equal_opportunity_difference": {"max": 0.5},
    }
    return {"thresholds": thresholds, **policy}


def test_diff_excuses_a_ratio_that_chance_explains_as_the_run_does(tmp_path: Path) -> None:
    fair = _write(_table({"large": (1000, 400), "small": (60, 24)}), tmp_path)
    baseline = to_document(_audit(fair, **_loosened()))
    assert baseline["findings"] == []
    small = tmp_path / "small"
    small.mkdir()
    path = _write(_table(SMALL), small)
    for required in (False, True):
        current = _audit(path, **_loosened(four_fifths_requires_p_value=required))
        diff = compare(baseline, current)
        (new,) = diff.new
        assert new.check == "fairness.disparity"
        # The diff's regression is the run's own gate verdict on the same finding.
        assert new.regression is (not required) is (not current.gate.passed)


def test_reports_say_the_p_value_and_shortfall_next_to_the_ratio(tmp_path: Path) -> None:
    frame = _table(SMALL)
    result = _audit(_write(frame, tmp_path), **_loosened(four_fifths_requires_p_value=True))
    p_value = _expected_p(frame, "small", "large")
    rendered = render(result, ["html", "markdown", "junit"])
    html = rendered["report.html"]
    assert (
        f"would still arise by chance with probability {p_value:.3f} (Fisher&#39;s exact test); "
        "1 more positive decision(s) for small would bring the ratio up to the policy&#39;s "
        "minimum of 0.80."
    ) in html
    assert (
        "only when that probability is below 0.05, so this one does not stop the release."
    ) in html
    note = f"Fisher's exact p = {p_value:.3g}, 1 selection(s) short of the threshold"
    assert note + "; not significant, does not fail the gate" in rendered["report.junit.xml"]
    assert (
        md_text("A selection-rate ratio counts only where Fisher's exact p < 0.05.")
        in (rendered["report.md"])
    )
    # Where the ratio fails the gate, the summary's finding line carries its significance.
    failing = _audit(_write(frame, tmp_path), **_loosened())
    assert md_text(note) in render(failing, ["markdown"])["report.md"]
