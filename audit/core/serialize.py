"""The one serializer: an AuditResult to a JSON document, validated by the shipped schema."""

from __future__ import annotations

import json
import math
from dataclasses import fields, is_dataclass
from enum import Enum
from functools import cache
from importlib import resources
from typing import Any

import jsonschema_rs

from audit.core.result import AuditResult

SCHEMA_FILE = "schema/report-1.schema.json"


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: _plain(getattr(value, item.name))
            for item in fields(value)
            if item.metadata.get("serialized", True)
        }
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, float):
        # NaN never reaches a report: undefined values are None with a reason. float() turns
        # a numpy float (a float subclass) into a plain one, so the document holds JSON types.
        return float(value) if math.isfinite(value) else None
    if hasattr(value, "item"):  # a numpy scalar
        return _plain(value.item())
    return value


def to_document(result: AuditResult) -> dict[str, Any]:
    plain = _plain(result)
    document = {
        "schema_version": plain["schema_version"],
        "tool": {"name": "rai-audit", "version": plain["tool_version"]},
        "run": plain["run"],
        "groups": plain["groups"],
        "disparities": plain["disparities"],
        "findings": plain["findings"],
        "checks": plain["checks"],
        "gate": plain["gate"],
    }
    # Optional sections appear only when their stage ran, so older readers see no change.
    if plain.get("privacy") is not None:
        document["privacy"] = plain["privacy"]
    if plain.get("explanations") is not None:
        document["explanations"] = plain["explanations"]
    if plain.get("text") is not None:
        document["text"] = plain["text"]
    if plain.get("what_if") is not None:
        document["what_if"] = plain["what_if"]
    if plain.get("ll144") is not None:
        document["ll144"] = plain["ll144"]
    if plain.get("robustness") is not None:
        document["robustness"] = plain["robustness"]
    if plain.get("data_fit") is not None:
        document["data_fit"] = plain["data_fit"]
    return document


@cache
def schema() -> dict[str, Any]:
    text = resources.files("audit").joinpath(SCHEMA_FILE).read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _schema_named(name: str) -> dict[str, Any]:
    """A shipped schema: ``report`` or ``ll144``."""
    return schema() if name == "report" else ll144_schema()


@cache
def _compiled(name: str) -> jsonschema_rs.Validator:
    """The compiled validator of a shipped schema (``name``: ``report`` or ``ll144``)."""
    document = _schema_named(name)
    # Formats are not checked, as jsonschema does not without a format checker; offline: the
    # schema refers only to itself, and nothing is fetched at run time.
    return jsonschema_rs.Draft202012Validator(document, validate_formats=False, offline=True)


def _validate(name: str, document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` where ``document`` breaks the named schema.

    jsonschema takes 0.05 s for a 1M-row audit's report, on one core at the end of the run;
    jsonschema-rs answers valid or not in 0.2 ms. jsonschema stays the judge of an invalid
    document (or one holding values that jsonschema-rs does not take, such as numpy scalars),
    so that errors keep their type, path and message.
    """
    try:
        if _compiled(name).is_valid(document):
            return
    except ValueError:  # a value that is not a JSON type
        pass
    import jsonschema  # only for an invalid document: its import takes 0.1 s of every run

    jsonschema.Draft202012Validator(_schema_named(name)).validate(document)


def validate_document(document: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if the document breaks the published contract."""
    _validate("report", document)


def to_json(result: AuditResult) -> str:
    document = to_document(result)
    validate_document(document)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def ll144_document(result: AuditResult) -> dict[str, Any]:
    """ll144.json: the Local Law 144 pack alone, with the tool and the report's schema version."""
    if result.ll144 is None:
        raise ValueError(
            "the audit has no ll144 pack: run it with --format ll144 (AuditRequest(ll144=True))"
        )
    return {
        "schema_version": result.schema_version,
        "tool": {"name": "rai-audit", "version": result.tool_version},
        "ll144": _plain(result.ll144),
    }


def ll144_schema() -> dict[str, Any]:
    """The schema of ll144.json: its pack is the report's ``ll144`` section."""
    report = schema()
    return {
        "$schema": report["$schema"],
        "type": "object",
        "required": ["schema_version", "tool", "ll144"],
        "additionalProperties": False,
        "properties": {
            "schema_version": report["properties"]["schema_version"],
            "tool": report["properties"]["tool"],
            "ll144": {"$ref": "#/$defs/ll144_pack"},
        },
        "$defs": report["$defs"],
    }


def ll144_json(result: AuditResult) -> str:
    document = ll144_document(result)
    _validate("ll144", document)
    return json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
