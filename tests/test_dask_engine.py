"""The Dask engine (--engine dask): the numbers of the in-process engine and the in-memory audit.

One local cluster of worker processes serves the module (starting one takes seconds); one
test lets rai-audit start its own with ``workers=2``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Cli, adult_request

import audit.stream.dask_engine
from audit.api import AuditRequest, run_audit
from audit.core.check import Measurement
from audit.core.registry import CHECKS, AuditContext
from audit.core.result import AuditResult
from audit.core.serialize import to_document
from audit.stream.sample import ROWS_PER_CELL, row_keys

# End to end on local Dask clusters: seconds per test for the workers to start.
pytestmark = pytest.mark.slow

distributed = pytest.importorskip("distributed")

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"
MODEL, DATA = EXAMPLE / "model.pt", EXAMPLE / "test.csv.gz"
ROWS = 16281
FAIRNESS_CHECKS = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
SEED = 7
# Run-to-run wall-clock fields of a report; everything else must match between engines.
WALL_CLOCK_FIELDS = frozenset({"started_at", "duration_seconds", "seconds"})
# Calibration error sums the scores, so unlike the rates and ROC AUC it feels the model's
# last-bit noise: the example MLP scores a row batched alone (the one-row partition below)
# one float32 ulp away from the same row in a large batch. Equal scores give equal values
# (tests/test_stream.py, tests/test_calibration.py); here they agree to this much.
CALIBRATION = "calibration_error"
CALIBRATION_TOLERANCE = 1e-9


def request_for(data: Path, policy: dict[str, Any] | None = None, **options: Any) -> AuditRequest:
    return replace(adult_request(data, n_boot=100, seed=SEED, **(policy or {})), **options)


def fingerprints(result: AuditResult) -> list[str]:
    return [finding.fingerprint for finding in result.findings]


def without_calibration(by_metric: dict[str, Any]) -> dict[str, Any]:
    return {metric: value for metric, value in by_metric.items() if metric != CALIBRATION}


def assert_close_calibration(group: dict[str, Any], expected: dict[str, Any]) -> None:
    """A report group's calibration error and interval, to ``CALIBRATION_TOLERANCE``."""
    for part in ("metrics", "ci"):
        got, want = group[part].get(CALIBRATION), expected[part].get(CALIBRATION)
        assert got == pytest.approx(want, abs=CALIBRATION_TOLERANCE)


def assert_same_groups(groups: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    """Equal report groups, but calibration error to ``CALIBRATION_TOLERANCE``."""
    assert len(groups) == len(expected)
    for group, want in zip(groups, expected, strict=True):
        assert_close_calibration(group, want)
        got_rest, want_rest = (
            {
                **entry,
                "metrics": without_calibration(entry["metrics"]),
                "ci": without_calibration(entry["ci"]),
            }
            for entry in (group, want)
        )
        assert got_rest == want_rest


def assert_same_disparities(got: list[Any], want: list[Any]) -> None:
    """Equal disparities, but the calibration-error gap (and its interval) to
    ``CALIBRATION_TOLERANCE``, as its groups' calibration errors."""
    got_rows = [row if isinstance(row, dict) else asdict(row) for row in got]
    want_rows = [row if isinstance(row, dict) else asdict(row) for row in want]
    assert len(got_rows) == len(want_rows)
    for row, expected in zip(got_rows, want_rows, strict=True):
        if row["metric"] != "calibration_error_difference":
            assert row == expected
            continue
        for part in ("value", "ci"):
            assert row[part] == pytest.approx(expected[part], abs=CALIBRATION_TOLERANCE)
        rest = {key: value for key, value in row.items() if key not in ("value", "ci")}
        assert rest == {key: value for key, value in expected.items() if key not in ("value", "ci")}


def assert_same_audit(result: AuditResult, expected: AuditResult) -> None:
    assert_same_groups(to_document(result)["groups"], to_document(expected)["groups"])
    assert_same_disparities(list(result.disparities), list(expected.disparities))
    assert fingerprints(result) == fingerprints(expected)
    assert (result.run.data.rows, result.run.data.columns) == (ROWS, 15)


def streamed_note(result: AuditResult) -> str:
    (note,) = [note for note in result.run.model.notes if note.startswith("streamed audit")]
    return note


@pytest.fixture(scope="module")
def scheduler() -> Iterator[str]:
    """A running cluster's address, as ``--scheduler`` names it."""
    # Three workers: five partitions spread unevenly over processes, as on a real cluster.
    # Logs at CRITICAL only: the error tests make workers log the failed tasks they re-raise.
    # The scheduler's HTTP routes go on a free port: without a dashboard they still take
    # 8787, which the cluster that rai-audit starts itself would then find taken.
    with distributed.LocalCluster(
        n_workers=3,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.CRITICAL,
    ) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def original() -> pd.DataFrame:
    return pd.read_csv(DATA)


@pytest.fixture(scope="module")
def in_memory() -> AuditResult:
    """The single original file read whole: what every distributed audit must reproduce."""
    return run_audit(request_for(DATA), FAIRNESS_CHECKS)


@pytest.fixture(scope="module")
def parquet_parts(tmp_path_factory: pytest.TempPathFactory, original: pd.DataFrame) -> Path:
    """The test split as 5 Parquet files of unequal sizes, one of a single row."""
    directory = tmp_path_factory.mktemp("parquet-parts")
    bounds = [0, 1000, 4500, 9000, 9001, ROWS]
    for index, (start, stop) in enumerate(pairwise(bounds)):
        original.iloc[start:stop].to_parquet(directory / f"part-{index}.parquet", index=False)
    return directory


@dataclass
class RecordedProgress:
    """Every phase a streamed audit starts: [description, total rows, rows reported]."""

    phases: list[list[Any]] = field(default_factory=list)

    def start(self, description: str, total_rows: int | None) -> None:
        self.phases.append([description, total_rows, 0])

    def advance(self, rows: int) -> None:
        self.phases[-1][2] += rows


def test_parquet_partitions_on_a_cluster_equal_local_engine_and_in_memory(
    scheduler: str, parquet_parts: Path, in_memory: AuditResult, original: pd.DataFrame
) -> None:
    progress = RecordedProgress()
    # 2,000-row chunks: the larger partitions are read in several.
    on_dask = run_audit(
        request_for(parquet_parts, engine="dask", scheduler=scheduler, chunk_rows=2000),
        FAIRNESS_CHECKS,
        progress,
    )
    local = run_audit(request_for(parquet_parts, chunk_rows=2000), FAIRNESS_CHECKS)
    assert_same_audit(on_dask, in_memory)
    assert_same_audit(local, in_memory)
    assert in_memory.findings  # the demo model's disparities: fingerprints are compared
    sizes = {g.group: g.n for g in on_dask.groups if g.feature == ("sex", "race")}
    assert sizes == {key: n for key, n in original.groupby(["sex", "race"]).size().items()}
    assert "(5 partition(s), dask engine)" in streamed_note(on_dask)
    assert "(5 partition(s), local engine)" in streamed_note(local)
    # Workers report whole partitions as they finish; both passes report every row, the
    # first one without a total known in advance.
    assert [phase[1:] for phase in progress.phases] == [[None, ROWS], [ROWS, ROWS]]
    assert progress.phases[-1][0] == "scoring"


@dataclass
class SampleCapture:
    """A check that keeps the rows the row-level stages read: a streamed audit's sample."""

    id: str = "test.sample_capture"
    needs: tuple[str, ...] = ()
    frames: list[pd.DataFrame] = field(default_factory=list)

    def run(self, context: AuditContext) -> tuple[Measurement, ...]:
        self.frames.append(context.frame)
        return ()


def expected_sample(frame: pd.DataFrame) -> pd.DataFrame:
    """The bottom-k sample of the rows in this order: the ROWS_PER_CELL smallest keys of
    each (sex, race) cell, in row order, computed with pandas."""
    positions = np.arange(len(frame))
    ranked = pd.DataFrame(
        {
            "cell": frame["sex"] + "|" + frame["race"],
            "key": row_keys(positions, SEED),
            "position": positions,
        }
    ).sort_values(["key", "position"])
    kept = np.sort(ranked.groupby("cell")["position"].head(ROWS_PER_CELL).to_numpy())
    return frame.iloc[kept].reset_index(drop=True)


# The engine's own cluster serves HTTP routes on port 8787 even without a dashboard. When
# another process holds that port, distributed warns, takes a free one, and drops the socket
# it failed to bind (never bound: address 0.0.0.0, port 0) unclosed. Harmless here.
@pytest.mark.filterwarnings("ignore:Port 8787 is already in use:UserWarning")
@pytest.mark.filterwarnings(
    r"ignore:unclosed <socket\.socket fd=\d+, family=2, type=1, proto=6, "
    r"laddr=\('0\.0\.0\.0', 0\)>:ResourceWarning"
)
def test_csv_glob_in_name_order_on_its_own_cluster(
    tmp_path: Path, in_memory: AuditResult, original: pd.DataFrame
) -> None:
    # Name order is not numeric order: part-10 < part-11 < part-2 < part-9. The rows are laid
    # out so that only name order gives back the original file; files are written backwards.
    layout = [
        ("part-9.csv.gz", 10_000, ROWS),
        ("part-2.csv", 3000, 10_000),
        ("part-11.csv", 0, 0),  # a header and no rows
        ("part-10.csv.gz", 0, 3000),
    ]
    for name, start, stop in layout:
        original.iloc[start:stop].to_csv(tmp_path / name, index=False)
    (tmp_path / "notes.txt").write_text("not matched by the pattern\n", encoding="utf-8")
    pattern = tmp_path / "part-*.csv*"
    capture = SampleCapture()
    on_dask = run_audit(request_for(pattern, engine="dask", workers=2), (*FAIRNESS_CHECKS, capture))
    local = run_audit(request_for(pattern), (*FAIRNESS_CHECKS, capture))
    assert_same_audit(on_dask, in_memory)
    assert_same_audit(local, in_memory)
    assert "(4 partition(s), dask engine)" in streamed_note(on_dask)
    assert len(capture.frames) == 2
    sample = expected_sample(original)
    assert len(sample) < ROWS  # White men and women exceed ROWS_PER_CELL: a real sample
    for frame in capture.frames:
        pd.testing.assert_frame_equal(frame, sample)


def without_wall_clock(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: without_wall_clock(item)
            for key, item in value.items()
            if key not in WALL_CLOCK_FIELDS
        }
    if isinstance(value, list):
        return [without_wall_clock(item) for item in value]
    return value


def test_every_check_reads_the_same_sample_on_a_cluster(
    scheduler: str, parquet_parts: Path
) -> None:
    engines: list[dict[str, Any]] = [{"engine": "dask", "scheduler": scheduler}, {}]
    actionable = {"robustness": {"actionable": {"hours-per-week": "increase"}}}
    documents = [
        to_document(
            run_audit(request_for(parquet_parts, actionable, explain_samples=40, **engine), CHECKS)
        )
        for engine in engines
    ]
    on_dask, local = (without_wall_clock(document) for document in documents)
    notes = on_dask["run"]["model"]["notes"]
    # The one difference that is not wall-clock time: the note names the engine.
    on_dask["run"]["model"]["notes"] = [
        note.replace("dask engine", "local engine") for note in notes
    ]
    assert notes != on_dask["run"]["model"]["notes"]
    assert on_dask == local
    # Explanations and privacy probes ran, on the sample: equal documents are not empty ones.
    assert local["explanations"]["status"] == "ok"
    statuses = {run["id"]: run["status"] for run in local["checks"]}
    assert statuses["privacy.pii_in_data"] == "ok"
    assert statuses["explain.direct_use"] == "ok"
    robustness = local["robustness"]
    assert robustness["stability"]["status"] == robustness["recourse"]["status"] == "ok"
    assert robustness["recourse"]["search"] == "gradient"


def test_cli_on_a_running_cluster_writes_the_in_memory_report(
    cli: Cli, scheduler: str, parquet_parts: Path, in_memory: AuditResult
) -> None:
    result = cli(
        "run", MODEL, parquet_parts, "--target", "income", "--sensitive", "sex,race",
        "--n-boot", "100", "--seed", str(SEED), "--format", "json", "--out", "out",
        "--engine", "dask", "--scheduler", scheduler, "--no-explain",
    )  # fmt: skip
    assert result.exit_code == 1, result.output  # the demo's disparities fail the gate
    document = json.loads((cli.cwd / "out" / "report.json").read_text("utf-8"))
    expected = to_document(in_memory)
    assert_same_groups(document["groups"], expected["groups"])
    assert_same_disparities(document["disparities"], expected["disparities"])


@pytest.fixture(scope="module")
def bad_datasets(tmp_path_factory: pytest.TempPathFactory, original: pd.DataFrame) -> Path:
    root = tmp_path_factory.mktemp("bad")
    lacking = root / "lacking-race"
    lacking.mkdir()
    original.iloc[:2000].to_csv(lacking / "part-0.csv", index=False)
    original.iloc[2000:4000].drop(columns="race").to_csv(lacking / "part-1.csv", index=False)
    missing = root / "missing-target"
    missing.mkdir()
    original.iloc[:2000].to_csv(missing / "part-0.csv", index=False)
    later = original.iloc[2000:4000].copy()
    later.loc[later.index[17], "income"] = None  # the dataset's row 2018: part-1's row 18
    later.to_csv(missing / "part-1.csv", index=False)
    original.iloc[4000:6000].to_parquet(missing / "part-2.parquet", index=False)
    (root / "empty").mkdir()
    return root


# (data under bad_datasets, options, what the one-line error names); SCHEDULER stands for
# the module cluster's address.
SCHEDULER = "{scheduler}"
ON_CLUSTER = ("--engine", "dask", "--scheduler", SCHEDULER)
LACKING = f"{Path('lacking-race', 'part-1.csv')}: no column 'race' for --sensitive"
BAD_INPUT = {
    "partition-lacks-sensitive-dask": (
        "lacking-race",
        ON_CLUSTER,
        (LACKING,),
    ),
    "partition-lacks-sensitive-local": (
        "lacking-race",
        (),
        (LACKING,),
    ),
    "target-missing-in-later-partition-dask": (
        "missing-target",
        ON_CLUSTER,
        (
            f"{Path('missing-target', 'part-1.csv')}: target column 'income' has 1 missing",
            "data row 18",
        ),
    ),
    "target-missing-in-later-partition-local": (
        "missing-target",
        (),
        (
            f"{Path('missing-target', 'part-1.csv')}: target column 'income' has 1 missing",
            "data row 18",
        ),
    ),
    "scheduler-unreachable": (
        "missing-target",
        ("--engine", "dask", "--scheduler", "tcp://127.0.0.1:1"),
        ("--scheduler tcp://127.0.0.1:1: cannot connect",),
    ),
    "unknown-engine": ("missing-target", ("--engine", "spark"), ("--engine 'spark'",)),
    "workers-without-dask": (
        "missing-target",
        ("--workers", "2"),
        ("--workers need --engine dask",),
    ),
    "empty-directory": ("empty", ON_CLUSTER, ("empty holds no data files",)),
    "pattern-matching-nothing": (
        "missing-target/nothing-*.csv",
        (),
        ("nothing-*.csv' holds no data files",),
    ),
}


@pytest.mark.parametrize(("data", "options", "needles"), BAD_INPUT.values(), ids=BAD_INPUT)
def test_bad_input_is_one_line_usage_error(
    cli: Cli,
    bad_datasets: Path,
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    data: str,
    options: tuple[str, ...],
    needles: tuple[str, ...],
) -> None:
    # Nothing listens on port 1: fail after 1 s rather than the engine's 20.
    monkeypatch.setattr(audit.stream.dask_engine, "CONNECT_TIMEOUT_SECONDS", 1)
    if SCHEDULER in options:
        address = request.getfixturevalue("scheduler")
        options = tuple(address if option == SCHEDULER else option for option in options)
    cli.input_error(
        ["run", MODEL, bad_datasets / data, "--target", "income", "--sensitive", "sex,race",
         "--out", "out", *options],
        *needles,
    )  # fmt: skip


def without_auc(by_metric: dict[str, Any]) -> dict[str, Any]:
    return {
        metric: value
        for metric, value in by_metric.items()
        if metric not in ("roc_auc", CALIBRATION)
    }


def test_score_sketch_on_a_cluster_is_within_its_stated_bound(
    scheduler: str, parquet_parts: Path, in_memory: AuditResult
) -> None:
    sketched = run_audit(
        request_for(
            parquet_parts, engine="dask", scheduler=scheduler, policy={"exact_auc_rows": 0}
        ),
        FAIRNESS_CHECKS,
    )
    (note,) = [note for note in sketched.run.model.notes if "score sketch" in note]
    stated = re.search(r"at most (\S+) from the exact one", note)
    assert stated is not None, note
    bound = float(stated.group(1))
    assert 0 < bound < 1e-3
    for group, exact in zip(sketched.groups, in_memory.groups, strict=True):
        assert (group.feature, group.group, group.n) == (exact.feature, exact.group, exact.n)
        auc, exact_auc = group.metrics["roc_auc"], exact.metrics["roc_auc"]
        assert auc is not None and exact_auc is not None  # both labels occur in every group
        assert abs(auc - exact_auc) <= bound
        # Rates are counts: exactly equal, intervals included.
        assert without_auc(group.metrics) == without_auc(exact.metrics)
        assert without_auc(group.ci) == without_auc(exact.ci)
        # Calibration error reads no sketch: it moves only by the one-row partition's noise.
        assert_close_calibration(asdict(group), asdict(exact))
    assert_same_disparities(list(sketched.disparities), list(in_memory.disparities))
