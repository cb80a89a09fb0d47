"""The one status vocabulary of a result: what happened to a stage, a section of a stage's
report, a check or a measured subject (a group, a term, an attribute). Four words, whatever
reports them: ok, skipped, error, insufficient_data."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Status(StrEnum):
    OK = "ok"
    SKIPPED = "skipped"  # could not run here; the reason says what input it lacks
    ERROR = "error"  # crashed; the audit is incomplete (exit code 3)
    INSUFFICIENT_DATA = "insufficient_data"  # too few rows to measure; nothing is shown for it


# A stage, a section of its report, or a check: it ran, was skipped, or crashed.
RunStatus = Literal["ok", "skipped", "error"]
# A subject of a measurement: measured, or too small to measure.
MeasuredStatus = Literal["ok", "insufficient_data"]


class CheckStatus(StrEnum):
    """A check's (or a crashed stage's) status in the result's ``checks``."""

    OK = Status.OK.value
    SKIPPED = Status.SKIPPED.value
    ERROR = Status.ERROR.value


class GroupStatus(StrEnum):
    """A group of a slice: measured, or smaller than min_group_size."""

    OK = Status.OK.value
    INSUFFICIENT_DATA = Status.INSUFFICIENT_DATA.value
