"""How a long audit tells its caller how far it is; the CLI draws it as a progress bar."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def start(self, description: str, total_rows: int | None) -> None:
        """A new phase over ``total_rows`` rows (None: not known in advance)."""
        ...

    def advance(self, rows: int) -> None:
        """``rows`` more rows of the current phase are done."""
        ...
