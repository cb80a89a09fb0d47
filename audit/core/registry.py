"""The registry of checks, in the order they run. An id, once released, never changes."""

from audit.core.check import AuditContext, Check, CheckSkipped
from audit.core.check_knowledge import check_table
from audit.explain.checks.direct_use import DirectUseCheck
from audit.explain.checks.flip import FlipCheck
from audit.explain.checks.instability import InstabilityCheck
from audit.explain.checks.proxy import ProxyCheck
from audit.fairness.checks.base_rate_gap import BaseRateGapCheck
from audit.fairness.checks.disparity import DisparityCheck
from audit.fairness.checks.four_fifths import FourFifthsCheck
from audit.fairness.checks.small_groups import SmallGroupsCheck
from audit.privacy.checks.attribute_inference import AttributeInferenceCheck
from audit.privacy.checks.membership import MembershipInferenceCheck
from audit.privacy.checks.pii_in_data import PiiInDataCheck
from audit.privacy.checks.pii_model_input import PiiModelInputCheck
from audit.privacy.checks.unsafe_model_file import UnsafeModelFileCheck
from audit.text.checks.counterfactual import CounterfactualSubstitutionCheck
from audit.text.checks.pii import PiiInTextCheck
from audit.text.checks.subgroup_auc import SubgroupAucCheck
from audit.text.checks.templates import TemplateProbesCheck

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

__all__ = ["CHECKS", "AuditContext", "Check", "CheckSkipped", "check_table"]
