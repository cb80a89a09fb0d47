"""Renderers of a finished audit.

Formatters are plugins found through the entry-point group ``rai_audit.formatters``; each
turns an ``AuditResult`` into the text of one file, ``report.<extension>``, or, with a
``render_files`` method, into several files it names itself (the ll144 pack's three). This package
reads only the engine's result types; writing files is the engine's job (``audit.core.output``).
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Protocol

from audit.core.result import AuditResult

ENTRY_POINT_GROUP = "rai_audit.formatters"


class Formatter(Protocol):
    """Writes ``report.<extension>``; a formatter that also has ``render_files(result)``
    (file name -> text) writes those files instead."""

    extension: str

    def render(self, result: AuditResult) -> str: ...


def available_formatters() -> dict[str, type[Formatter]]:
    return {entry.name: entry.load() for entry in entry_points(group=ENTRY_POINT_GROUP)}


def render(result: AuditResult, formats: list[str]) -> dict[str, str]:
    """File name to text for each format; ``KeyError`` names an unknown format."""
    formatters = available_formatters()
    rendered = {}
    for name in formats:
        formatter = formatters[name]()
        files = getattr(formatter, "render_files", None)
        if callable(files):
            rendered.update(files(result))
        else:
            rendered[f"report.{formatter.extension}"] = formatter.render(result)
    return rendered


__all__ = ["ENTRY_POINT_GROUP", "Formatter", "available_formatters", "render"]
