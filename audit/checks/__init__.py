"""The registry of checks, in the order they run. An id, once released, never changes."""

from audit.check_knowledge import check_table
from audit.checks.base import AuditContext, Check, CheckSkipped
from audit.checks.base_rate_gap import BaseRateGapCheck
from audit.checks.explain_direct_use import DirectUseCheck
from audit.checks.explain_flip import FlipCheck
from audit.checks.explain_instability import InstabilityCheck
from audit.checks.explain_proxy import ProxyCheck
from audit.checks.fairness_disparity import DisparityCheck
from audit.checks.four_fifths import FourFifthsCheck
from audit.checks.privacy_attribute_inference import AttributeInferenceCheck
from audit.checks.privacy_membership import MembershipInferenceCheck
from audit.checks.privacy_pii_in_data import PiiInDataCheck
from audit.checks.privacy_pii_model_input import PiiModelInputCheck
from audit.checks.privacy_unsafe_model_file import UnsafeModelFileCheck
from audit.checks.small_groups import SmallGroupsCheck
from audit.checks.text_counterfactual import CounterfactualSubstitutionCheck
from audit.checks.text_pii import PiiInTextCheck
from audit.checks.text_subgroup_auc import SubgroupAucCheck
from audit.checks.text_templates import TemplateProbesCheck

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
