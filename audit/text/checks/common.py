"""What the ``text.*`` checks share: the text stage's report, or why they cannot run."""

from __future__ import annotations

from audit.core.check import AuditContext, CheckSkipped
from audit.text.results import TextReport
from audit.text.stage import STAGE_ID

Interval = tuple[float, float] | None


def text_report(context: AuditContext) -> TextReport:
    report = context.report(STAGE_ID, TextReport)
    if report is None:
        raise CheckSkipped(
            "not a text audit: give --text-column with a text model (docs/text-models.md)"
        )
    return report


def ready(status: str, reason: str | None, part: str) -> None:
    if status != "ok":
        raise CheckSkipped(f"the text stage's {part} did not run: {reason or status}")


def oriented(value: float, interval: Interval, sign: float) -> tuple[float, Interval]:
    """``value`` and its interval multiplied by ``sign`` (+1 or -1), the interval kept ordered."""
    if interval is None:
        return sign * value, None
    low, high = sorted((sign * interval[0], sign * interval[1]))
    return sign * value, (low, high)


def quoted(term: str) -> str:
    return f"“{term}”"
