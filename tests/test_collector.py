"""The garbage collector runs less often during an audit and a command, and is given back."""

from __future__ import annotations

import gc
from collections.abc import Iterator, Mapping

import pytest
from conftest import adult_request

import audit.cli
from audit.api import run_audit
from audit.core.collector import THRESHOLDS, fewer_collections
from audit.core.prepared import PreparedAudit
from audit.core.registry import STAGES
from audit.core.stage import Need, StageOutcome

CALLERS = (700, 10, 10)  # CPython's defaults, which none of THRESHOLDS equals


@pytest.fixture
def callers_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    gc.set_threshold(*CALLERS)
    yield
    gc.set_threshold(*before)


class ThresholdRecorder:
    """A table stage that records the collector's thresholds while the audit runs."""

    id = "test.thresholds"
    required = True
    needs: tuple[Need, ...] = ()

    def __init__(self) -> None:
        self.seen: tuple[int, ...] = ()

    def runs_model(self, prepared: PreparedAudit) -> bool:
        return False

    def run(self, prepared: PreparedAudit, reports: Mapping[str, object]) -> StageOutcome:
        self.seen = gc.get_threshold()
        return StageOutcome(None)

    def skipped(self, reason: str) -> None:
        return None


@pytest.mark.usefixtures("callers_thresholds")
def test_fewer_collections_inside_and_the_callers_thresholds_after() -> None:
    assert THRESHOLDS[0] > CALLERS[0]
    with fewer_collections():
        assert gc.get_threshold() == THRESHOLDS
        with fewer_collections():  # nested, as a command's audit is
            assert gc.get_threshold() == THRESHOLDS
        assert gc.get_threshold() == THRESHOLDS
    assert gc.get_threshold() == CALLERS
    with pytest.raises(ValueError, match="inside"), fewer_collections():
        raise ValueError("inside")
    assert gc.get_threshold() == CALLERS


@pytest.mark.usefixtures("callers_thresholds")
def test_an_audit_runs_with_fewer_collections_and_gives_them_back() -> None:
    recorder = ThresholdRecorder()
    fairness = [stage for stage in STAGES if stage.id == "fairness"]
    run_audit(adult_request(), checks=(), stages=(*fairness, recorder))
    assert recorder.seen == THRESHOLDS
    assert gc.get_threshold() == CALLERS


@pytest.mark.usefixtures("callers_thresholds")
def test_the_command_runs_with_fewer_collections_and_exits_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[int, ...]] = []

    def command() -> None:
        seen.append(gc.get_threshold())
        raise SystemExit(1)  # as typer ends every command

    monkeypatch.setattr(audit.cli, "app", command)
    frozen = gc.get_freeze_count()
    try:
        with pytest.raises(SystemExit):
            audit.cli.main()
        assert seen == [THRESHOLDS]
        assert gc.get_threshold() == CALLERS
        # What is alive is left out of the teardown's collection.
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()  # this test process goes on
