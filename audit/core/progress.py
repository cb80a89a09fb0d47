"""How a long audit tells its caller how far it is; the CLI draws it as a progress bar."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total_rows: int | None, unit: str = "rows") -> None:
        """A new phase over ``total_rows`` of ``unit`` (None: not known in advance)."""
        ...

    def advance(self, rows: int) -> None:
        """``rows`` more units of the current phase are done."""
        ...
