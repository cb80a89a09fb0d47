"""Running one part of a stage so that a crash is recorded, not fatal (privacy, text)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, TypeVar

from audit.core.errors import RaiAuditError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

# A stage's section: a result dataclass with ``status`` and ``reason`` fields.
Section = TypeVar("Section", bound="DataclassInstance")


def guarded(
    name: str,
    errors: list[str],
    skipped: Section,
    run: Callable[[], Section],
    seconds: dict[str, float] | None = None,
) -> Section:
    """``run()``; if it crashes, ``skipped`` marked as an error and one line in ``errors``.

    Input errors (``RaiAuditError``) still stop the audit: they are the user's to fix. With
    ``seconds``, the part's wall time is recorded there under ``name``.
    """
    clock = time.perf_counter()
    try:
        return run()
    except RaiAuditError:
        raise
    except Exception as exc:  # a crashing part is recorded; the audit goes on
        errors.append(f"{name}: {type(exc).__name__}: {exc}".strip())
        return replace(skipped, status="error", reason=f"crashed ({type(exc).__name__})")
    finally:
        if seconds is not None:
            seconds[name] = round(time.perf_counter() - clock, 3)
