"""One status vocabulary: every status a result carries (a check's, a stage section's, a
group's, a term's) is one of ok, skipped, error and insufficient_data."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from enum import Enum
from types import ModuleType

import audit.core.findings
import audit.core.result
import audit.explain.results
import audit.privacy.report
import audit.text.results
from audit.core.status import Status

RESULT_MODULES = (
    audit.core.result,
    audit.core.findings,
    audit.explain.results,
    audit.privacy.report,
    audit.text.results,
)


def _words(hint: object) -> set[str]:
    if inspect.isclass(hint) and issubclass(hint, Enum):
        return {str(member.value) for member in hint}
    if typing.get_origin(hint) is typing.Literal:
        return {str(value) for value in typing.get_args(hint)}
    words: set[str] = set()
    for argument in typing.get_args(hint):  # Optional[...] and unions
        words |= _words(argument)
    return words


def status_fields(module: ModuleType) -> dict[str, set[str]]:
    found = {}
    for name, kind in vars(module).items():
        if not (inspect.isclass(kind) and dataclasses.is_dataclass(kind)):
            continue
        if kind.__module__ != module.__name__:
            continue
        hints = typing.get_type_hints(kind)
        for field in dataclasses.fields(kind):
            if field.name.endswith("status"):
                found[f"{name}.{field.name}"] = _words(hints[field.name])
    return found


def test_every_status_in_a_result_speaks_the_one_vocabulary() -> None:
    vocabulary = {status.value for status in Status}
    assert vocabulary == {"ok", "skipped", "error", "insufficient_data"}
    fields = {
        name: words for module in RESULT_MODULES for name, words in status_fields(module).items()
    }
    # The check runs, the groups, and the sections of the privacy, explanation and text reports.
    assert {"CheckRun.status", "GroupResult.status", "MethodResult.status"} <= set(fields)
    assert len(fields) >= 15, sorted(fields)
    for name, words in fields.items():
        assert words, f"{name} has no declared statuses"
        assert words <= vocabulary, (name, sorted(words - vocabulary))
