"""Stages in two lanes: the table stages beside the model stages, the result as if in one."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import pytest
import torch
from conftest import ADULT_DATA, ADULT_MODEL, adult_request, sha256

from audit.api import run_audit
from audit.core.errors import DataError
from audit.core.prepare import prepare
from audit.core.prepared import PreparedAudit
from audit.core.registry import STAGES
from audit.core.result import CheckStatus
from audit.core.runner import run_stages
from audit.core.serialize import to_json
from audit.core.stage import Need, StageOutcome
from audit.data.table import TableRows


@dataclass
class Recorder:
    """What a stage saw when it ran: its thread, its threads setting, the reports before it."""

    id: str
    model: bool  # whether it runs the model
    required: bool = True
    needs: tuple[Need, ...] = ()
    crash: Exception | None = None
    thread: str = ""
    threads: int = 0
    torch_threads: int = 0
    seen: tuple[str, ...] = ()
    started: threading.Event = field(default_factory=threading.Event)
    wait_for: threading.Event | None = None

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return self.model

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        self.thread = threading.current_thread().name
        self.threads = prepared.settings.threads
        self.torch_threads = torch.get_num_threads()
        self.seen = tuple(reports)
        self.started.set()
        if self.wait_for is not None:  # proves the lanes overlap: it needs the other lane
            assert self.wait_for.wait(timeout=30), "the other lane never started"
        if self.crash is not None:
            raise self.crash
        return StageOutcome(f"report of {self.id}", notes=(f"note of {self.id}",))

    def skipped(self, reason: str) -> None:
        return None


@dataclass
class Unlabelled:
    """A stage from a plugin written before ``runs_model``: it runs with the model stages."""

    id: str = "plugin.unlabelled"
    required: bool = True
    needs: tuple[Need, ...] = ()
    thread: str = ""

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        self.thread = threading.current_thread().name
        return StageOutcome(tuple(reports))

    def skipped(self, reason: str) -> None:
        return None


@pytest.fixture(scope="module")
def prepared() -> PreparedAudit:
    return prepare(adult_request(), 2, None)


def test_table_stages_run_beside_the_model_stages_on_one_core(prepared: PreparedAudit) -> None:
    model_first = Recorder("model.first", model=True)
    table_first = Recorder("table.first", model=False)
    model_second = Recorder("model.second", model=True)
    table_second = Recorder("table.second", model=False)
    unlabelled = Unlabelled()
    # Each lane waits for the other to have started: run one after the other, this hangs.
    model_second.wait_for, table_second.wait_for = table_first.started, model_first.started
    stages = [model_first, table_first, model_second, table_second, unlabelled]
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        reports, failures, notes = run_stages(prepared, stages, [])
        after = torch.get_num_threads()
    finally:
        torch.set_num_threads(before)  # the rest of this worker's tests keep their count

    main = threading.current_thread().name
    assert [stage.thread == main for stage in stages] == [True, False, True, False, True]
    assert table_first.thread.startswith("rai-tables")
    assert [stage.threads for stage in (model_first, table_first, model_second)] == [2, 1, 2]
    # While the lanes overlap, torch computes on one thread in each (no pool waits on the
    # other lane's core); the audit's own count is back once they are done.
    assert [stage.torch_threads for stage in stages[:4]] == [1, 1, 1, 1]
    assert after == 2
    # A stage sees the reports of those before it in its own lane only.
    assert model_second.seen == ("model.first",)
    assert table_second.seen == ("table.first",)
    assert reports["plugin.unlabelled"] == ("model.first", "model.second")
    # Reports, notes and errors come in registry order, whichever lane ran the stage.
    assert list(reports) == [stage.id for stage in stages]
    assert notes == tuple(f"note of {stage.id}" for stage in stages[:4])
    assert failures == ()


def test_one_thread_runs_every_stage_in_the_calling_thread(prepared: PreparedAudit) -> None:
    one = replace(prepared, settings=replace(prepared.settings, threads=1))
    table, model = Recorder("table", model=False), Recorder("model", model=True)
    reports, _, _ = run_stages(one, [table, model], [])
    main = threading.current_thread().name
    assert (table.thread, model.thread) == (main, main)
    assert (table.threads, model.threads) == (1, 1)
    assert table.torch_threads == model.torch_threads == torch.get_num_threads()
    assert table.seen == model.seen == ()
    assert list(reports) == ["table", "model"]


def test_a_crash_in_either_lane_is_that_stages_error(prepared: PreparedAudit) -> None:
    stages = [
        Recorder("model.crashes", model=True, crash=RuntimeError("model lane")),
        Recorder("table.crashes", model=False, crash=ValueError("table lane")),
        Recorder("table.after", model=False),
    ]
    reports, failures, _ = run_stages(prepared, stages, [])
    assert [(run.id, run.status, run.reason) for run in failures] == [
        ("model.crashes", CheckStatus.ERROR, "RuntimeError: model lane"),
        ("table.crashes", CheckStatus.ERROR, "ValueError: table lane"),
    ]
    assert list(reports) == ["table.after"]


def test_an_input_error_in_the_table_lane_stops_the_audit(prepared: PreparedAudit) -> None:
    bad = DataError("data.csv: column 'x' is empty; fill it or leave it out")
    stages = [Recorder("model", model=True), Recorder("table", model=False, crash=bad)]
    with pytest.raises(DataError, match="column 'x' is empty"):
        run_stages(prepared, stages, [])


def _comparable(value: object) -> object:
    """The report without its timings, floats to 12 digits: the bootstrap of the SHAP
    importances sums in another order on two threads, which moves the 16th digit."""
    if isinstance(value, dict):
        return {
            key: _comparable(item)
            for key, item in value.items()
            if key not in ("started_at", "duration_seconds", "seconds")
        }
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    if isinstance(value, float):
        return float(f"{value:.12g}")
    return value


def test_the_whole_audit_is_the_same_on_one_thread_and_two() -> None:
    request = adult_request()
    one, two = (json.loads(to_json(run_audit(replace(request, threads=n)))) for n in (1, 2))
    assert _comparable(one) == _comparable(two)
    # Both lanes ran: the fairness tables beside the explanations and privacy probes.
    assert two["groups"] and two["explanations"]["status"] == "ok"
    assert two["privacy"]["pii"]["status"] == "ok"
    # The trail's hashes, taken while the stages ran, are the files' own.
    assert two["run"]["data"]["file"]["sha256"] == sha256(ADULT_DATA)
    assert two["run"]["model"]["file"]["sha256"] == sha256(ADULT_MODEL)


def test_privacy_runs_beside_the_model_unless_it_scores_training_rows(
    prepared: PreparedAudit,
) -> None:
    privacy = next(stage for stage in STAGES if stage.id == "privacy")
    assert not privacy.runs_model(prepared)
    members = TableRows(prepared.data.frame.head(10), ADULT_DATA)
    with_members = replace(prepared, data=replace(prepared.data, members=members))
    assert privacy.runs_model(with_members)
    lanes = {stage.id: stage.runs_model(prepared) for stage in STAGES}
    assert lanes == {
        "fairness": False,
        "privacy": False,
        "explain": True,
        "robustness": True,
        "text": True,
        "what_if": False,
        "ll144": False,
        "data_fit": False,
    }
