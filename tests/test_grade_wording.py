"""A finding's numbers as its title and severity reason write them (audit/core/check.py): never
a value that reads as the very limit it is said to violate."""

from __future__ import annotations

import pytest

from audit.core.check import Measurement, NumberFormat, format_number, grade
from audit.core.check_knowledge import check_table
from audit.core.findings import Evidence
from audit.core.judge import _words
from audit.core.policy import Threshold
from audit.explain.checks.common import percent
from reports.markdown_report import violated


@pytest.mark.parametrize(
    ("show", "value", "limit", "written"),
    [
        (format_number, 0.6004147678, 0.6, "0.6004"),
        (format_number, 0.5999912, 0.6, "0.59999"),
        (format_number, 0.7004, 0.6, "0.700"),
        (percent, 0.010041, 0.01, "1.004%"),
        (percent, 0.077, 0.01, "7.7%"),
        # Closer than 1e-9, which counts as at the limit: written as it rounds, not to 20 places.
        (format_number, 0.6 + 1e-12, 0.6, "0.600000000"),
    ],
)
def test_a_value_gets_the_places_that_tell_it_from_its_limit(
    show: NumberFormat, value: float, limit: float, written: str
) -> None:
    assert show.apart_from(value, limit) == written
    assert show(value) == f"{show.scale * value:.{show.decimals}f}{show.suffix}"


def test_a_violation_that_rounds_to_its_limit_says_by_how_much() -> None:
    info = check_table()["privacy.attribute_inference"]
    graded = grade(info, Threshold(max=0.6, critical=0.75), 0.6004147, (0.5864, 0.6142))
    assert graded is not None
    assert graded.reason.startswith(
        "Info because 0.6004 is above the maximum 0.600, but its confidence interval "
        "[0.586, 0.614] reaches back across it"
    )
    # An interval bound next to the limit gets its places too, and a value next to the critical
    # level is told from that level.
    clear = grade(info, Threshold(max=0.6, critical=0.75), 0.75031, (0.60002, 0.81))
    assert clear is not None
    assert "0.7503 is above the critical level 0.750" in clear.reason
    assert "[0.60002, 0.810]" in clear.reason


def test_a_title_writes_its_value_apart_from_the_threshold() -> None:
    evidence = Evidence(
        metric="attack_auc",
        value=0.6004147,
        interval=(0.5864, 0.6142),
        threshold=0.6,
        bound="max",
        feature=("race",),
        groups=(),
        n=(1000,),
    )
    words = _words(Measurement(key=("race",), evidence=evidence, threshold=Threshold(max=0.6)))
    assert (words["value"], words["threshold"]) == ("0.6004", "0.600")


@pytest.mark.parametrize(
    ("threshold", "at_level", "past"),
    [
        (
            Threshold(max=0.1, critical=0.3),
            0.8 - 0.7,
            0.1 + 1e-6,
        ),  # 0.8 - 0.7 = 0.10000000000000009
        (Threshold(min=0.8, critical=0.6), 0.7 + 0.1 - 1e-15, 0.8 - 1e-6),
    ],
)
def test_a_value_at_the_level_by_round_off_complies(
    threshold: Threshold, at_level: float, past: float
) -> None:
    assert not threshold.violated_by(at_level) and threshold.violated_by(past)
    # The Markdown summary and the model card mark a disparity row by the same rule.
    assert not violated(threshold.bound, threshold.limit, at_level)
    assert violated(threshold.bound, threshold.limit, past)
    assert grade(check_table()["text.template_probes"], threshold, at_level, None) is None
    critical = threshold.critical or 0.0
    assert not threshold.critical_by(critical + (at_level - threshold.limit))
