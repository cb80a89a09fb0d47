"""privacy.unsafe_model_file: a pickle-based model file was loaded; how safe was that?

A file with dangerous imports never loads unless --allow-unsafe-imports names them; when
it did, that is a high finding. A pickle that could not be scanned (the scanner is not
installed) is medium; a clean pickle is low, because the format itself can run code and
the next version of the file may not be clean.
"""

from __future__ import annotations

from audit.core.check import AuditContext, Measurement
from audit.core.findings import Evidence
from audit.privacy.checks.common import privacy_report


class UnsafeModelFileCheck:
    needs: tuple[str, ...] = ("privacy",)

    id = "privacy.unsafe_model_file"

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        scan = privacy_report(context).model_file
        if scan is None:
            return ()  # not a pickle-based file: nothing was unpickled
        if scan.allowed_unsafe:
            grade_key, state = "allowed_unsafe", "loaded with imports flagged as dangerous"
        elif not scan.scanned:
            grade_key, state = "unscanned", "loaded without a scan"
        else:
            grade_key, state = "pickle", "is a pickle (scanned, no dangerous imports)"
        dangerous = [item for item in scan.imports if item.safety == "dangerous"]
        suspicious = [item for item in scan.imports if item.safety == "suspicious"]
        evidence = Evidence(
            metric="dangerous_imports",
            value=float(len(dangerous)),
            threshold=0.0,
            bound="max",
            details={
                "file": scan.file,
                "format": scan.format,
                "scanner": scan.scanner,
                "complete": scan.complete,
                "allowed_unsafe": list(scan.allowed_unsafe),
                "suspicious_imports": [f"{item.module}.{item.name}" for item in suspicious],
                "note": scan.note,
            },
        )
        return (
            Measurement(
                key=("model_file",),
                evidence=evidence,
                rule=grade_key,
                words={
                    "file": scan.file,
                    "state": state,
                    "imports": ", ".join(scan.allowed_unsafe) or "none",
                },
            ),
        )
