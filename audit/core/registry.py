"""The registry of stages and checks, in the order they run. An id, once released, never changes."""

from audit.core.check import AuditContext, Check, CheckSkipped
from audit.core.check_knowledge import check_table
from audit.core.stage import Stage
from audit.explain.checks.direct_use import DirectUseCheck
from audit.explain.checks.flip import FlipCheck
from audit.explain.checks.instability import InstabilityCheck
from audit.explain.checks.proxy import ProxyCheck
from audit.explain.stage import ExplainStage
from audit.fairness.checks.base_rate_gap import BaseRateGapCheck
from audit.fairness.checks.disparity import DisparityCheck
from audit.fairness.checks.four_fifths import FourFifthsCheck
from audit.fairness.checks.small_groups import SmallGroupsCheck
from audit.fairness.stage import FairnessStage
from audit.privacy.checks.attribute_inference import AttributeInferenceCheck
from audit.privacy.checks.membership import MembershipInferenceCheck
from audit.privacy.checks.pii_in_data import PiiInDataCheck
from audit.privacy.checks.pii_model_input import PiiModelInputCheck
from audit.privacy.checks.unsafe_model_file import UnsafeModelFileCheck
from audit.privacy.stage import PrivacyStage
from audit.text.checks.counterfactual import CounterfactualSubstitutionCheck
from audit.text.checks.pii import PiiInTextCheck
from audit.text.checks.subgroup_auc import SubgroupAucCheck
from audit.text.checks.templates import TemplateProbesCheck
from audit.text.stage import TextStage

# A stage may read the reports of the stages before it.
STAGES: tuple[Stage, ...] = (FairnessStage(), PrivacyStage(), ExplainStage(), TextStage())

CHECKS: tuple[Check, ...] = (
    DisparityCheck(),
    FourFifthsCheck(),
    DisparityCheck("fairness.calibration_gap"),
    SmallGroupsCheck(),
    BaseRateGapCheck(),
    PiiInDataCheck(),
    PiiModelInputCheck(),
    MembershipInferenceCheck(),
    AttributeInferenceCheck(),
    UnsafeModelFileCheck(),
    DirectUseCheck(),
    ProxyCheck(),
    FlipCheck(),
    InstabilityCheck(),
    CounterfactualSubstitutionCheck(),
    TemplateProbesCheck(),
    SubgroupAucCheck(),
    PiiInTextCheck(),
)

__all__ = ["CHECKS", "STAGES", "AuditContext", "Check", "CheckSkipped", "Stage", "check_table"]
