"""The registry of checks, in the order they run. An id, once released, never changes."""

from audit.checks.base import AuditContext, Check, CheckSkipped, check_table
from audit.checks.base_rate_gap import BaseRateGapCheck
from audit.checks.fairness_disparity import DisparityCheck
from audit.checks.four_fifths import FourFifthsCheck
from audit.checks.small_groups import SmallGroupsCheck

CHECKS: tuple[Check, ...] = (
    DisparityCheck(),
    FourFifthsCheck(),
    SmallGroupsCheck(),
    BaseRateGapCheck(),
)

__all__ = ["CHECKS", "AuditContext", "Check", "CheckSkipped", "check_table"]
