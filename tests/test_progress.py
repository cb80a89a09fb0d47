"""Progress of a streamed audit: what the engine reports, and the CLI's bar drawing it."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from audit.api import AuditRequest, run_audit
from audit.cli_progress import RowsProgress
from audit.core.registry import CHECKS

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"
FAIRNESS_CHECKS = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))


class RecordedProgress:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None, list[int]]] = []

    def start(self, description: str, total_rows: int | None) -> None:
        self.phases.append((description, total_rows, []))

    def advance(self, rows: int) -> None:
        self.phases[-1][2].append(rows)


def test_streamed_audit_reports_every_row_of_both_passes(tmp_path: Path) -> None:
    frame = pd.read_csv(EXAMPLE / "test.csv.gz")
    for index, rows in enumerate(np.array_split(np.arange(len(frame)), 3)):
        frame.iloc[rows].to_parquet(tmp_path / f"part-{index}.parquet")
    progress = RecordedProgress()
    request = AuditRequest(
        data=tmp_path,
        target="income",
        sensitive=("sex",),
        model=EXAMPLE / "model.pt",
        chunk_rows=2000,
        search_config=False,
        policy_overrides={"n_boot": 10},
    )
    run_audit(request, FAIRNESS_CHECKS, progress=progress)
    (first, first_total, first_steps), (second, second_total, second_steps) = progress.phases
    assert first_total is None  # rows are not known before the first pass
    assert second_total == len(frame) == sum(first_steps) == sum(second_steps)
    # One step per chunk: three partitions of 5,427 rows in chunks of 2,000.
    assert first_steps == second_steps == [2000, 2000, 1427] * 3
    assert "sensitive" in first and second == "scoring"


def in_memory_request(n_boot: int) -> AuditRequest:
    """The bundled Adult example by sex, read at once."""
    return AuditRequest(
        data=EXAMPLE / "test.csv.gz",
        target="income",
        sensitive=("sex",),
        model=EXAMPLE / "model.pt",
        search_config=False,
        threads=2,
        policy_overrides={"n_boot": n_boot},
    )


def test_in_memory_audit_reports_nothing() -> None:
    progress = RecordedProgress()
    run_audit(in_memory_request(10), FAIRNESS_CHECKS, progress=progress)
    assert progress.phases == []


def test_bar_shows_rows_done_rate_and_phase() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=140, color_system=None)
    with RowsProgress(console, enabled=True) as bar:
        bar.start("scoring", 1_000_000)
        bar.advance(250_000)
        bar.advance(250_000)
        bar._bar.refresh()  # type: ignore[union-attr]  # draw now, not on the timer
        drawn = output.getvalue()
    assert "scoring" in drawn
    assert "500000/1000000" in drawn and "rows" in drawn


def test_disabled_bar_draws_nothing() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True)
    with RowsProgress(console, enabled=False) as bar:
        bar.start("scoring", 10)
        bar.advance(10)
    assert output.getvalue() == ""


class UnitProgress(RecordedProgress):
    """Also keeps each phase's unit."""

    def __init__(self) -> None:
        super().__init__()
        self.units: list[str] = []

    def start(self, description: str, total_rows: int | None, unit: str = "rows") -> None:
        super().start(description, total_rows)
        self.units.append(unit)


def test_a_long_bootstrap_reports_its_replicates(monkeypatch: pytest.MonkeyPatch) -> None:
    import audit.fairness.tables

    # The phase appears from this many drawn counts; one makes any audit's bootstrap long.
    monkeypatch.setattr(audit.fairness.tables, "PROGRESS_DRAWS", 1)
    progress = UnitProgress()
    run_audit(in_memory_request(25), FAIRNESS_CHECKS, progress=progress)
    ((description, total, steps),) = progress.phases
    # ROC AUC and calibration error each draw every replicate once.
    assert description == "bootstrap intervals" and progress.units == ["replicates"]
    assert total == 50 == sum(steps) and len(steps) > 2


def test_bar_names_the_unit_it_counts() -> None:
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=140, color_system=None)
    with RowsProgress(console, enabled=True) as bar:
        bar.start("bootstrap intervals", 2000, unit="replicates")
        bar.advance(500)
        bar._bar.refresh()  # type: ignore[union-attr]  # draw now, not on the timer
        drawn = output.getvalue()
    assert "500/2000" in drawn and "replicates" in drawn and "rows" not in drawn
