"""A stage: one domain's computation over the prepared audit, whose report the checks read.

The runner (audit.core.runner) runs the registered stages in order. A stage runs when it is
``required`` or a check ``needs`` it; a stage whose ``needs`` are not met is skipped with the
first unmet need's reason; a part of a stage that crashes is one line of its ``errors`` and
the audit goes on (exit 3). Stage reports are held by stage id.

Stages run in two lanes: those that run the model, in order with the audit's threads, and
beside them, on one thread of their own, those that compute only over the prepared tables
(``runs_model`` False for the audit). A stage sees the reports of the stages before it in
its own lane.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from audit.core.prepared import PreparedAudit


@dataclass(frozen=True)
class Need:
    """Something a stage needs from the prepared audit, and why the stage is skipped without it."""

    name: str
    met: Callable[[PreparedAudit], bool]
    reason: str


@dataclass(frozen=True)
class StageOutcome:
    report: object | None  # what the checks and the result read; None: nothing to report
    errors: tuple[str, ...] = ()  # one line per crashed part: recorded as the stage's error
    notes: tuple[str, ...] = ()  # said in the report's model notes (how a figure was made)


class Stage(Protocol):
    id: str
    # Runs even when no check needs it (the fairness tables are the result's groups).
    required: bool
    # Checked in order; the first unmet one is the reason the stage is skipped.
    needs: tuple[Need, ...]

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        """``reports`` holds the reports of the stages before this one in its lane."""
        ...

    def runs_model(self, prepared: PreparedAudit) -> bool:
        """False: in this audit it only reads the prepared tables, never the model, so it runs
        beside the stages that do. A stage without this method (a plugin written before it) is
        taken to run the model."""
        ...

    def skipped(self, reason: str) -> object | None:
        """The report of this stage when it is skipped (None: the result has no section)."""
        ...
