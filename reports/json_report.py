"""report.json: the serializer's document, validated against the shipped schema."""

from __future__ import annotations

from audit.core.result import AuditResult
from audit.core.serialize import to_json


class JsonFormatter:
    extension = "json"

    def render(self, result: AuditResult) -> str:
        return to_json(result)
