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
    from audit.errors import (
        ConfigError,
        DataError,
        ModelError,
        OutputError,
        RaiAuditError,
        UsageError,
    )
    from audit.findings import Evidence, Finding, Role, Severity
    from audit.result import AuditResult, CheckStatus, Disparity, Gate, GroupResult, GroupStatus
    from audit.serialize import to_document, to_json, validate_document

_HOMES = {
    "AuditRequest": "audit.api",
    "run_audit": "audit.api",
    "ConfigError": "audit.errors",
    "DataError": "audit.errors",
    "ModelError": "audit.errors",
    "OutputError": "audit.errors",
    "RaiAuditError": "audit.errors",
    "UsageError": "audit.errors",
    "Evidence": "audit.findings",
    "Finding": "audit.findings",
    "Role": "audit.findings",
    "Severity": "audit.findings",
    "AuditResult": "audit.result",
    "CheckStatus": "audit.result",
    "Disparity": "audit.result",
    "Gate": "audit.result",
    "GroupResult": "audit.result",
    "GroupStatus": "audit.result",
    "to_document": "audit.serialize",
    "to_json": "audit.serialize",
    "validate_document": "audit.serialize",
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
