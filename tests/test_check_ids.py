"""Released check ids are permanent: baselines, `diff`, suppressions and dashboards key on
them (and on the causes that merge them). A new check is added here on purpose, in the same
change that ships it; a released id is never removed or renamed."""

from __future__ import annotations

from conftest import CHECK_FILES

from audit.core.check_knowledge import causes, check_table
from audit.core.registry import CHECKS

RELEASED = (
    "fairness.disparity",
    "fairness.four_fifths",
    "fairness.calibration_gap",
    "data.small_groups",
    "data.base_rate_gap",
    "privacy.pii_in_data",
    "privacy.pii_model_input",
    "privacy.membership_inference",
    "privacy.attribute_inference",
    "privacy.unsafe_model_file",
    "explain.direct_use",
    "explain.proxy",
    "explain.counterfactual_flip",
    "explain.instability",
    "text.counterfactual_substitution",
    "text.template_probes",
    "text.subgroup_auc",
    "text.pii_in_text",
    "robustness.stability_gap",
    "robustness.recourse_gap",
    "datafit.drift",
    "datafit.label_noise",
)
# A finding's fingerprint starts with its cause; renaming one re-keys every baseline.
RELEASED_CAUSES = {
    "fairness.disparity": "fairness.disparity",
    "fairness.four_fifths": "fairness.disparity",
    "fairness.calibration_gap": "fairness.calibration_gap",
    "explain.direct_use": "explain.direct_use",
    "explain.counterfactual_flip": "explain.direct_use",
}


def test_the_registry_runs_exactly_the_released_checks_in_order() -> None:
    assert tuple(check.id for check in CHECKS) == RELEASED


def test_every_released_check_has_exactly_one_knowledge_file() -> None:
    files = sorted(path.name for path in CHECK_FILES.iterdir() if path.name != "README.md")
    assert files == sorted(f"{check}.toml" for check in RELEASED)
    assert set(check_table()) == set(RELEASED)


def test_causes_are_frozen_too() -> None:
    assert causes() == RELEASED_CAUSES
