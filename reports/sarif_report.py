"""report.sarif: findings as SARIF 2.1.0 results, for code-scanning dashboards.

Each check is a rule (its id, a description, help with the recommendation, the roles' actions
and the obligations, and a default level); each finding is a result at the level its severity
maps to, located on line 1 of the model file (findings about its behaviour) or of the data
file (findings about the data, and every finding of an audit of decisions), as each check's
knowledge says, with the finding's fingerprint as its partial
fingerprint so that dashboards match it across runs, and the accountable role and the evidence
in its properties. Validated against the OASIS schema in tests/schemas/.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path, PurePath, PurePosixPath, PureWindowsPath
from typing import Any
from urllib.parse import quote

from audit.core.findings import Finding, Severity
from audit.core.result import AuditResult, CheckStatus
from reports.markdown_report import generic_recommendation, md_text
from reports.significance import significance_note

SCHEMA_URI = (
    "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/master/Schemata/sarif-schema-2.1.0.json"
)
LEVELS = {
    Severity.CRITICAL: "error",
    Severity.HIGH: "error",
    Severity.MEDIUM: "warning",
    Severity.LOW: "note",
    Severity.INFO: "note",
}
# Where a result points: the data file, relative to the directory rai-audit ran in.
SOURCE_ROOT = "%SRCROOT%"
FINGERPRINT_KEY = "raiAuditFingerprint/v1"


def _rule_name(check: str) -> str:
    return "".join(part.capitalize() for part in check.replace("_", ".").split("."))


def _plain(value: Any) -> Any:
    """JSON-ready values: tuples as lists, enums as their value, non-finite floats as null."""
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        return _plain(value.item())
    return value


def artifact_uri(path: str) -> str:
    """A relative URI for the audited file: relative to the working directory when it lies
    beneath it, else its file name (an absolute path means nothing on a dashboard)."""
    pure: PurePath = PureWindowsPath(path) if "\\" in path else PurePosixPath(path)
    if pure.is_absolute():
        try:
            pure = PurePosixPath(Path(path).resolve().relative_to(Path.cwd().resolve()).as_posix())
        except ValueError:
            pure = PurePosixPath(pure.name)
    parts = [part for part in pure.parts if part not in (".", "")]
    return quote("/".join(parts) or pure.name, safe="/")


def _utc(timestamp: str) -> str | None:
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Rules:
    def __init__(self, result: AuditResult) -> None:
        self.result = result
        self.knowledge = result.knowledge
        self.names = {info.role: info.name for info in self.knowledge.roles}
        ids = [check.id for check in result.checks]
        ids += [finding.check for finding in result.findings if finding.check not in ids]
        self.ids = list(dict.fromkeys(ids))
        self.index = {check: position for position, check in enumerate(self.ids)}
        # The result's own descriptions (the knowledge files at audit time); a stage
        # ("explain", "privacy", "text") has none and gets a generic line.
        self.descriptions = {
            check.id: check.description for check in result.checks if check.description
        }

    def _default_severity(self, check: str) -> Severity:
        info = self.knowledge.checks.get(check)
        if info is not None and "clear" in info.severity:
            return info.severity["clear"]
        severities = [
            finding.severity for finding in self.result.findings if finding.check == check
        ]
        return max(severities, key=lambda severity: severity.rank, default=Severity.MEDIUM)

    def descriptor(self, check: str) -> dict[str, Any]:
        severity = self._default_severity(check)
        description = self.descriptions.get(check) or f"rai-audit check {check}."
        recommendation = generic_recommendation(self.result, check)
        owner = self.knowledge.owners.get(check, {}).get(severity)
        references = list(
            dict.fromkeys(
                [
                    reference
                    for finding in self.result.findings
                    if finding.check == check
                    for reference in finding.references
                ]
                + (list(owner.references) if owner else [])
            )
        )
        # Blocks of lines: plain text joins them with one blank line, Markdown likewise, so
        # that each list stays one tight list.
        text_blocks: list[list[str]] = [[recommendation]] if recommendation else []
        markdown_blocks: list[list[str]] = [[md_text(recommendation)]] if recommendation else []
        if owner is not None:
            roles = [(owner.accountable, "accountable")] + [
                (role, "consulted") for role in owner.consulted
            ]
            text_blocks.append(["Who acts:"])
            markdown_blocks.append(["**Who acts:**"])
            text_blocks.append([])
            markdown_blocks.append([])
            for role, part in roles:
                name = self.names.get(role, role.value)
                action = owner.actions.get(role, "")
                text_blocks[-1].append(f"- {name} ({part}): {action}")
                markdown_blocks[-1].append(f"- **{md_text(name)}** ({part}): {md_text(action)}")
        if references:
            text_blocks.append(["References:"])
            markdown_blocks.append(["**References:**"])
            text_blocks.append([f"- {reference}" for reference in references])
            markdown_blocks.append([f"- {md_text(reference)}" for reference in references])
        descriptor: dict[str, Any] = {
            "id": check,
            "name": _rule_name(check),
            "shortDescription": {"text": description},
            "fullDescription": {"text": description},
            "help": {
                "text": "\n\n".join("\n".join(block) for block in text_blocks),
                "markdown": "\n\n".join("\n".join(block) for block in markdown_blocks),
            },
            "defaultConfiguration": {"level": LEVELS[severity]},
            "properties": {
                "tags": ["responsible-ai", check.split(".", 1)[0]],
                "defaultSeverity": severity.value,
            },
        }
        if owner is not None:
            descriptor["properties"]["accountable"] = owner.accountable.value
            descriptor["properties"]["consulted"] = [role.value for role in owner.consulted]
        return descriptor


@dataclass(frozen=True)
class _Artifact:
    uri: str
    index: int  # in the run's artifacts


def _subject(result: AuditResult, check: str) -> str:
    """What the check's findings are about ("model" or "data"), from its knowledge."""
    info = result.knowledge.checks.get(check)
    return info.subject if info is not None else "data"


def _result(
    finding: Finding,
    rules: _Rules,
    failing: set[str],
    files: dict[str, _Artifact],
    confidence: str,
) -> dict[str, Any]:
    evidence = finding.evidence
    # A finding about the model's behaviour sits on the model file; without one (decisions
    # read from the data) and for findings about the data, on the data file.
    artifact = files.get(_subject(rules.result, finding.check), files["data"])
    consulted = ", ".join(role.value for role in finding.consulted)
    who = f"Accountable: {finding.accountable.value}" + (
        f" (consulted: {consulted})." if consulted else "."
    )
    slice_text = " × ".join(evidence.feature)
    groups = " vs ".join(" / ".join(group) for group in evidence.groups)
    location_text = f"slice {slice_text}" + (f", groups {groups}" if groups else "")
    numbers = ""
    if evidence.interval is not None:
        low, high = evidence.interval
        numbers = f"; {confidence} interval [{low:.3f}, {high:.3f}]"
    return {
        "ruleId": finding.check,
        "ruleIndex": rules.index[finding.check],
        "level": LEVELS[finding.severity],
        "message": {
            "text": f"{finding.title}{numbers}{significance_note(evidence)}. "
            f"{finding.severity_reason} "
            f"{finding.recommendation} {who}".replace("  ", " "),
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {
                        "uri": artifact.uri,
                        "uriBaseId": SOURCE_ROOT,
                        "index": artifact.index,
                    },
                    # Code-scanning views show a result only on a line: the data file's
                    # header (its columns), or the first line of the model file.
                    "region": {"startLine": 1},
                },
                "message": {"text": location_text},
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "findingId": finding.id,
            "fingerprint": finding.fingerprint,
            "severity": finding.severity.value,
            "gateViolation": finding.id in failing,
            "accountable": finding.accountable.value,
            "consulted": [role.value for role in finding.consulted],
            "actions": {role.value: action for role, action in finding.actions.items()},
            "references": list(finding.references),
            "evidence": _plain(asdict(evidence)),
            "severityReason": finding.severity_reason,
            "relatedEvidence": [_plain(asdict(row)) for row in finding.related_evidence],
            "tags": ["responsible-ai", finding.severity.value, finding.accountable.value],
        },
    }


def sarif_document(result: AuditResult) -> dict[str, Any]:
    run = result.run
    rules = _Rules(result)
    failing = {violation.finding for violation in result.gate.violations}
    confidence = f"{run.confidence_level:.0%}"
    data_uri = artifact_uri(run.data.file.path)
    artifacts: list[dict[str, Any]] = [
        {
            "location": {"uri": data_uri, "uriBaseId": SOURCE_ROOT},
            "length": run.data.file.bytes,
            "hashes": {"sha-256": run.data.file.sha256},
            "roles": ["analysisTarget"],
            "description": {"text": "The evaluation data the audit read."},
        }
    ]
    files = {"data": _Artifact(data_uri, 0)}
    if run.model.file is not None:
        files["model"] = _Artifact(artifact_uri(run.model.file.path), 1)
        artifacts.append(
            {
                "location": {"uri": artifact_uri(run.model.file.path), "uriBaseId": SOURCE_ROOT},
                "length": run.model.file.bytes,
                "hashes": {"sha-256": run.model.file.sha256},
                "roles": ["analysisTarget"],
                "description": {"text": f"The audited model ({run.model.kind})."},
            }
        )
    notifications = [
        {
            "level": "error" if check.status is CheckStatus.ERROR else "note",
            "message": {"text": f"Check {check.id} {check.status.value}: {check.reason}"},
            "associatedRule": {"id": check.id, "index": rules.index[check.id]},
        }
        for check in result.checks
        if check.status is not CheckStatus.OK
    ]
    invocation: dict[str, Any] = {
        "executionSuccessful": not result.incomplete,
        "toolExecutionNotifications": notifications,
    }
    started = _utc(run.started_at)
    if started is not None:
        invocation["startTimeUtc"] = started
    baseline = getattr(result.gate, "baseline", None)
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "rai-audit",
                        "version": result.tool_version,
                        "semanticVersion": result.tool_version,
                        "rules": [rules.descriptor(check) for check in rules.ids],
                    }
                },
                "invocations": [invocation],
                "artifacts": artifacts,
                "results": [
                    _result(finding, rules, failing, files, confidence)
                    for finding in result.findings
                ],
                "columnKind": "unicodeCodePoints",
                "properties": {
                    "gate": {
                        "passed": result.gate.passed,
                        "failOn": result.gate.fail_on,
                        "requireSignificance": result.gate.require_significance,
                        "violations": sorted(failing),
                        "baselineSha256": baseline.sha256 if baseline is not None else None,
                    },
                    "auditIncomplete": result.incomplete,
                    "reportSchemaVersion": result.schema_version,
                },
            }
        ],
    }


class SarifFormatter:
    extension = "sarif"

    def render(self, result: AuditResult) -> str:
        document = sarif_document(result)
        return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
