"""The knowledge a result carries (audit.core.result.Knowledge): the checks' files, who owns
their findings under this policy, the roles, and what every metric means."""

from __future__ import annotations

from collections.abc import Sequence

from audit.core.accountability import AccountabilityTable, role_infos
from audit.core.check import Check
from audit.core.check_knowledge import CheckInfo, MetricMeaning, check_table
from audit.core.findings import Severity
from audit.core.policy import load_policy
from audit.core.result import Knowledge
from audit.fairness.metrics import DISPARITIES, METRIC_MEANINGS


def knowledge_of(check: Check) -> CheckInfo | None:
    """What the check is: its own ``knowledge`` (a plugin's file) or the shipped file."""
    own: CheckInfo | None = getattr(check, "knowledge", None)
    return own or check_table().get(check.id)


def known_checks(checks: Sequence[Check]) -> tuple[CheckInfo, ...]:
    """The knowledge of each check that has any (a check without it may still run and
    measure nothing)."""
    return tuple(info for check in checks if (info := knowledge_of(check)) is not None)


def audit_knowledge(checks: Sequence[Check], accountability: AccountabilityTable) -> Knowledge:
    infos = {info.id: info for info in known_checks(checks)}
    # The fairness stage's metrics from its spec table, then those the checks' evidence states.
    metrics = {name: MetricMeaning(meaning) for name, meaning in METRIC_MEANINGS.items()}
    metrics |= {spec.name: MetricMeaning(spec.meaning, spec.components) for spec in DISPARITIES}
    for info in infos.values():
        metrics |= info.metrics
    return Knowledge(
        checks=infos,
        owners={
            check: {severity: accountability.owner(info, severity) for severity in Severity}
            for check, info in infos.items()
        },
        roles=role_infos(),
        metrics=metrics,
        policy_defaults=load_policy(checks=tuple(infos.values())).model_dump(mode="json"),
    )
