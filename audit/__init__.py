"""rai-audit's engine: load data and model, compute sliced fairness metrics, grade findings.

from audit import AuditRequest, run_audit
result = run_audit(AuditRequest(data=Path("test.csv"), model=Path("model.pt"),
                                target="income", sensitive=("sex", "race")))
result.gate.passed

Names are imported on first use (PEP 562), so that importing a result type or an error does
not load torch, scikit-learn and Fairlearn: ``rai-audit version`` and report readers stay fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audit.api import AuditRequest, run_audit
    from audit.core.errors import (
        ConfigError,
        DataError,
        ModelError,
        OutputError,
        RaiAuditError,
        UsageError,
    )
    from audit.core.findings import Evidence, Finding, Role, Severity
    from audit.core.result import (
        AuditResult,
        CheckStatus,
        Disparity,
        Gate,
        GroupResult,
        GroupStatus,
    )
    from audit.core.serialize import to_document, to_json, validate_document

_HOMES = {
    "AuditRequest": "audit.api",
    "run_audit": "audit.api",
    "ConfigError": "audit.core.errors",
    "DataError": "audit.core.errors",
    "ModelError": "audit.core.errors",
    "OutputError": "audit.core.errors",
    "RaiAuditError": "audit.core.errors",
    "UsageError": "audit.core.errors",
    "Evidence": "audit.core.findings",
    "Finding": "audit.core.findings",
    "Role": "audit.core.findings",
    "Severity": "audit.core.findings",
    "AuditResult": "audit.core.result",
    "CheckStatus": "audit.core.result",
    "Disparity": "audit.core.result",
    "Gate": "audit.core.result",
    "GroupResult": "audit.core.result",
    "GroupStatus": "audit.core.result",
    "to_document": "audit.core.serialize",
    "to_json": "audit.core.serialize",
    "validate_document": "audit.core.serialize",
}

__all__ = [
    "AuditRequest",
    "AuditResult",
    "CheckStatus",
    "ConfigError",
    "DataError",
    "Disparity",
    "Evidence",
    "Finding",
    "Gate",
    "GroupResult",
    "GroupStatus",
    "ModelError",
    "OutputError",
    "RaiAuditError",
    "Role",
    "Severity",
    "UsageError",
    "run_audit",
    "to_document",
    "to_json",
    "validate_document",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'audit' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOMES))
