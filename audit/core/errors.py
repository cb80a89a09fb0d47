"""One error family for every seam of the engine.

Each message states the problem, the offending file, column or value, and what to do. The CLI
prints ``str(error)`` on one line and exits with ``error.exit_code``; the Python API lets the
exception propagate so a notebook sees the same text.
"""

from __future__ import annotations


class RaiAuditError(Exception):
    """Base of every error rai-audit raises on purpose."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        # One line: the CLI promises a single line per error.
        super().__init__(" ".join(message.split()))


class UsageError(RaiAuditError):
    """Options that contradict each other or name nothing."""


class ConfigError(RaiAuditError):
    """A policy file or a policy flag that cannot be used."""


class DataError(RaiAuditError):
    """An input table that cannot be read or does not fit the audit."""


class ModelError(RaiAuditError):
    """A model file that cannot be loaded safely, or a model whose output cannot be used."""


class OutputError(RaiAuditError):
    """A report that cannot be written where it was asked for."""


class PluginError(RaiAuditError):
    """An installed plugin (entry points rai_audit.checks, rai_audit.stages) that cannot be used."""
