"""rai-audit's engine: load data and model, compute sliced fairness metrics, grade findings.

from audit import AuditRequest, run_audit
result = run_audit(AuditRequest(data=Path("test.csv"), model=Path("model.pt"),
                                target="income", sensitive=("sex", "race")))
result.gate.passed
"""

from audit.api import AuditRequest, run_audit
from audit.errors import ConfigError, DataError, ModelError, OutputError, RaiAuditError, UsageError
from audit.findings import Evidence, Finding, Role, Severity
from audit.result import AuditResult, CheckStatus, Disparity, Gate, GroupResult, GroupStatus
from audit.serialize import to_document, to_json, validate_document

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
