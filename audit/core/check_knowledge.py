"""What each check is, from audit/knowledge/checks.toml: its wording, grades and cause.

Apart from the engine so that reading a report (audit.core.compare, the renderers) can use it
without loading the checks' computations.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Literal

from audit.core.findings import Severity


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    recommendation: str  # for one finding, with {placeholders}
    advice: str  # the recommendation in general words, for text about the check
    subject: Literal["model", "data"]  # the file a finding is about (SARIF's location)
    severity: dict[str, Severity]
    description: str  # one sentence on what the check judges, for readers of any report
    # Why a grade that no threshold decides has its severity, per grade, with {placeholders}.
    reasons: dict[str, str]
    # Appended to the severity reason of a grade the check caps below the usual one.
    severity_note: str | None
    # Findings of one cause and one slice become one finding (audit.core.causes); None: each stands.
    cause: str | None


@cache
def check_table() -> dict[str, CheckInfo]:
    text = resources.files("audit").joinpath("knowledge/checks.toml").read_text("utf-8")
    return {
        check_id: CheckInfo(
            id=check_id,
            title=entry["title"],
            recommendation=entry["recommendation"],
            advice=entry["advice"],
            subject=entry["subject"],
            description=entry["description"],
            severity={grade: Severity(level) for grade, level in entry["severity"].items()},
            reasons=entry.get("reasons", {}),
            severity_note=entry.get("severity_note"),
            cause=entry.get("cause"),
        )
        for check_id, entry in tomllib.loads(text).items()
    }


def causes() -> dict[str, str]:
    """Check id -> the cause its findings are merged under (audit.core.causes)."""
    return {check: info.cause for check, info in check_table().items() if info.cause is not None}
