"""The registry of stages and checks, in the order they run. An id, once released, never changes.

Third-party checks and stages register through the entry-point groups ``rai_audit.checks`` and
``rai_audit.stages`` (docs/plugins.md): each entry point names a class (instantiated without
arguments) or an instance. They run after the built-in ones, in entry-point name order.
"""

from collections.abc import Sequence
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from audit.core.check import AuditContext, Check, CheckSkipped
from audit.core.check_knowledge import check_table
from audit.core.errors import PluginError
from audit.core.stage import Stage
from audit.datafit.checks.drift import DriftCheck
from audit.datafit.checks.label_noise import LabelNoiseCheck
from audit.datafit.stage import DataFitStage
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
from audit.mitigation.stage import WhatIfStage
from audit.privacy.checks.attribute_inference import AttributeInferenceCheck
from audit.privacy.checks.membership import MembershipInferenceCheck
from audit.privacy.checks.pii_in_data import PiiInDataCheck
from audit.privacy.checks.pii_model_input import PiiModelInputCheck
from audit.privacy.checks.unsafe_model_file import UnsafeModelFileCheck
from audit.privacy.stage import PrivacyStage
from audit.regulatory.stage import LL144Stage
from audit.robustness.checks.recourse import RecourseGapCheck
from audit.robustness.checks.stability import StabilityGapCheck
from audit.robustness.stage import RobustnessStage
from audit.text.checks.counterfactual import CounterfactualSubstitutionCheck
from audit.text.checks.pii import PiiInTextCheck
from audit.text.checks.subgroup_auc import SubgroupAucCheck
from audit.text.checks.templates import TemplateProbesCheck
from audit.text.stage import TextStage

# A stage may read the reports of the stages before it.
STAGES: tuple[Stage, ...] = (
    FairnessStage(),
    PrivacyStage(),
    ExplainStage(),
    RobustnessStage(),  # after explain: it holds the encoded copies it finds fixed
    TextStage(),
    WhatIfStage(),
    LL144Stage(),
    DataFitStage(),
)

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
    StabilityGapCheck(),
    RecourseGapCheck(),
    DriftCheck(),
    LabelNoiseCheck(),
)

CHECK_GROUP = "rai_audit.checks"
STAGE_GROUP = "rai_audit.stages"


def _plugins(group: str, kind: str) -> tuple[Any, ...]:
    found = []
    for entry in sorted(entry_points(group=group), key=lambda entry: entry.name):
        try:
            loaded = entry.load()
            plugin = loaded() if isinstance(loaded, type) else loaded
        except Exception as exc:  # a broken plugin is named, not a traceback
            raise PluginError(
                f"the {kind} plugin {entry.name!r} ({entry.value}) of entry point group {group} "
                f"cannot be loaded: {type(exc).__name__}: {exc}; fix or uninstall the package "
                "that provides it"
            ) from exc
        if not isinstance(getattr(plugin, "id", None), str) or not callable(
            getattr(plugin, "run", None)
        ):
            raise PluginError(
                f"the {kind} plugin {entry.name!r} ({entry.value}) has no string 'id' and 'run' "
                f"method; see docs/plugins.md for the {kind} protocol"
            )
        found.append(plugin)
    return tuple(found)


@cache
def plugin_checks() -> tuple[Check, ...]:
    return _plugins(CHECK_GROUP, "check")


@cache
def plugin_stages() -> tuple[Stage, ...]:
    return _plugins(STAGE_GROUP, "stage")


def with_plugins(builtin: Sequence[Any], plugins: Sequence[Any], kind: str) -> tuple[Any, ...]:
    """The built-in checks (or stages) and then the installed plugins, whose ids must be new."""
    taken = {item.id for item in builtin}
    for plugin in plugins:
        if plugin.id in taken:
            raise PluginError(
                f"the {kind} plugin {type(plugin).__name__} uses the id {plugin.id!r}, which "
                f"another {kind} already has; give it an id of its own (e.g. a prefix naming "
                "your package)"
            )
        taken.add(plugin.id)
    return (*builtin, *plugins)


__all__ = ["CHECKS", "STAGES", "AuditContext", "Check", "CheckSkipped", "Stage", "check_table"]
