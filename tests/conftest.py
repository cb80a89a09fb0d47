"""Shared fixtures: small synthetic tables and model files written under ``tmp_path``.

Every table and model here is tiny and built from known numbers, so that tests can compute
the expected decisions themselves with numpy instead of trusting the code under test.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tomllib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from fairlearn.metrics import (
    false_negative_rate,
    false_positive_rate,
    selection_rate,
    true_positive_rate,
)
from sklearn.metrics import accuracy_score, precision_score
from torch import nn
from typer.testing import CliRunner, Result

import audit.api
from audit.api import AuditRequest
from audit.cli import app

# Bootstrap replicates for tests that do not study intervals: enough to exercise the code.
FAST_N_BOOT = 50
SEXES = ("F", "M")
GROUPS = ("a", "b", "c")
# Default model: logit(positive) - logit(negative) = x2 + 0.5 * x1, with x2 first in the file.
LOGIT_WEIGHTS = np.array([[0.0, 0.0], [1.0, 0.5]])
LOGIT_BIAS = np.array([0.0, 0.0])


def make_frame(rows_per_cell: int = 40, seed: int = 0, bias: float = 0.0) -> pd.DataFrame:
    """A table in which every (sex, group) cell holds the same rows, so a model is exactly fair.

    ``bias`` lowers feature ``x2`` for sex F only, which lowers F's selection rate under the
    default model while leaving the labels (and so base rates) identical across groups.
    Columns in file order: x2, sex, x1, group, label, note (text, never a feature).
    """
    rng = np.random.default_rng(seed)
    x2 = rng.normal(size=rows_per_cell)
    x1 = rng.normal(size=rows_per_cell)
    label = (x2 + 0.5 * x1 + rng.normal(scale=0.5, size=rows_per_cell) > 0).astype(int)
    blocks = []
    for sex in SEXES:
        for group in GROUPS:
            shift = bias if sex == "F" else 0.0
            blocks.append(
                pd.DataFrame(
                    {
                        "x2": np.round(x2 - shift, 6),
                        "sex": sex,
                        "x1": np.round(x1, 6),
                        "group": group,
                        "label": label,
                        "note": "free text",
                    }
                )
            )
    return pd.concat(blocks, ignore_index=True)


def default_logits(frame: pd.DataFrame) -> np.ndarray:
    """The default model's [n, 2] logits, computed with numpy."""
    inputs = frame[["x2", "x1"]].to_numpy(dtype=np.float64)
    return inputs @ LOGIT_WEIGHTS.T + LOGIT_BIAS


def linear(weights: Any, bias: Any) -> nn.Linear:
    """An ``nn.Linear`` with the given weights, [out, in] as numpy writes them."""
    weight_array = np.asarray(weights, dtype=np.float32)
    layer = nn.Linear(weight_array.shape[1], weight_array.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight_array))
        layer.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
    return layer


def default_module() -> nn.Module:
    return linear(LOGIT_WEIGHTS, LOGIT_BIAS)


def selection_rates(frame: pd.DataFrame, decisions: np.ndarray, column: str) -> dict[str, float]:
    """Share of positive decisions per value of ``column``, computed independently."""
    rates = pd.Series(decisions.astype(float)).groupby(frame[column].to_numpy()).mean()
    return {str(group): float(rate) for group, rate in rates.items()}


def group_metric(result: Any, feature: str, group: str, metric: str) -> float | None:
    """A metric of a one-feature group from an ``AuditResult``."""
    for entry in result.groups:
        if entry.feature == (feature,) and entry.group == (group,):
            value: float | None = entry.metrics[metric]
            return value
    raise AssertionError(f"no group {feature}={group} in the result")


# The rate metrics computed on raw rows with Fairlearn and scikit-learn directly: the
# independent path the audit's aggregated-cell metrics are checked against.
# Each disparity's group metrics, and how the metrics combine (Fairlearn's worst case).
COMPONENTS = {
    "demographic_parity_difference": ("selection_rate",),
    "demographic_parity_ratio": ("selection_rate",),
    "equalized_odds_difference": ("true_positive_rate", "false_positive_rate"),
    "equalized_odds_ratio": ("true_positive_rate", "false_positive_rate"),
    "equal_opportunity_difference": ("true_positive_rate",),
}
RAW_ROW_METRICS: dict[str, Any] = {
    "selection_rate": selection_rate,
    "base_rate": lambda y_true, y_pred: float(np.mean(y_true)),
    "accuracy": accuracy_score,
    "true_positive_rate": true_positive_rate,
    "false_positive_rate": false_positive_rate,
    "false_negative_rate": false_negative_rate,
    "precision": lambda y_true, y_pred: precision_score(y_true, y_pred, zero_division=0),
}

ADULT = Path(__file__).resolve().parents[1] / "examples" / "adult"
ADULT_MODEL, ADULT_DATA = ADULT / "model.pt", ADULT / "test.csv.gz"


def adult_request(
    data: Path = ADULT_DATA, chunk_rows: int | None = None, **policy: Any
) -> AuditRequest:
    """The bundled Adult model audited by sex and race, seeded, 200 replicates by default."""
    return AuditRequest(
        data=data,
        target="income",
        sensitive=("sex", "race"),
        model=ADULT_MODEL,
        chunk_rows=chunk_rows,
        search_config=False,
        policy_overrides={"n_boot": 200, "seed": 7, **policy},
    )


def merged_both_ways(pieces: Sequence[Any]) -> tuple[Any, Any]:
    """``pieces`` (anything with ``merge``) folded left to right and right to left: both must
    equal the whole, whatever the order of a distributed merge."""
    forward = pieces[0]
    for piece in pieces[1:]:
        forward = forward.merge(piece)
    backward = pieces[-1]
    for piece in reversed(pieces[:-1]):
        backward = piece.merge(backward)
    return forward, backward


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


CHECK_FILES = Path(__file__).resolve().parents[1] / "audit" / "knowledge" / "checks"


def shipped_check_files() -> dict[str, dict[str, Any]]:
    """Each check's knowledge file as plain TOML, by id (the file's name): what reports are
    compared with, read apart from the loader under test."""
    return {
        path.name.removesuffix(".toml"): tomllib.loads(path.read_text("utf-8"))
        for path in sorted(CHECK_FILES.glob("*.toml"))
    }


@dataclass
class Workspace:
    """Writes inputs of an audit into one directory and fingerprints them."""

    root: Path

    def table(self, frame: pd.DataFrame, name: str = "data.csv") -> Path:
        """CSV, gzip CSV or Parquet, by the name's suffix."""
        path = self.root / name
        if name.endswith(".parquet"):
            frame.to_parquet(path, index=False)
        else:
            frame.to_csv(path, index=False)  # pandas compresses .csv.gz by its suffix
        return path

    def text(self, name: str, content: str | bytes) -> Path:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def torchscript(
        self,
        module: nn.Module,
        name: str = "model.pt",
        metadata: dict[str, Any] | None = None,
    ) -> Path:
        """``torch.jit.script`` + ``torch.jit.save``, with ``rai_audit.json`` if given."""
        path = self.root / name
        extra = {"rai_audit.json": json.dumps(metadata)} if metadata is not None else {}
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript; the engine still reads such files.
            warnings.simplefilter("ignore", DeprecationWarning)
            scripted = torch.jit.script(module.eval())
            torch.jit.save(scripted, str(path), _extra_files=extra)
        return path

    def exported(self, module: nn.Module, width: int, name: str = "model.pt2") -> Path:
        """``torch.export`` with a dynamic batch dimension, saved as ``.pt2``."""
        path = self.root / name
        example = (torch.zeros(4, width),)
        program = torch.export.export(
            module.eval(), example, dynamic_shapes=({0: torch.export.Dim("batch")},)
        )
        torch.export.save(program, str(path))
        return path

    def pickled_module(self, module: nn.Module, name: str = "model.pt") -> Path:
        """A whole module saved with ``torch.save``: a pickle."""
        path = self.root / name
        torch.save(module, path)
        return path

    def pickle(self, obj: Any, name: str = "model.pkl") -> Path:
        path = self.root / name
        path.write_bytes(pickle.dumps(obj))
        return path

    def joblib(self, obj: Any, name: str = "model.joblib") -> Path:
        import joblib

        path = self.root / name
        joblib.dump(obj, path)
        return path

    def skops(self, obj: Any, name: str = "model.skops") -> Path:
        import skops.io

        path = self.root / name
        skops.io.dump(obj, path)
        return path

    def digests(self) -> dict[str, str]:
        """SHA-256 of every file under the workspace, by relative path."""
        return {
            str(path.relative_to(self.root)): sha256(path)
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }


@pytest.fixture(autouse=True, scope="session")
def one_core_per_test_worker() -> Iterator[None]:
    """Under pytest-xdist each worker audits on one core: two workers each starting a torch
    pool of every core would run twice as many threads as the machine has."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        yield
        return
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(audit.api, "available_cores", lambda: 1)
        torch.set_num_threads(1)
        yield


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    return Workspace(inputs)


@pytest.fixture
def frame() -> pd.DataFrame:
    return make_frame()


# --- TorchScript-able modules that misbehave, for the adapter's error paths -------------------


class RaisingModel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("deliberate failure inside forward")


class ThreeClassModel(nn.Module):
    """[n, 3] logits and no class labels: the positive class cannot be found."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, :1], x[:, :1] * 2.0, x[:, :1] * 3.0], dim=1)


class ExtraRowModel(nn.Module):
    """[n + 1]: one score more than there are rows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = x[:, 0]
        return torch.cat([scores, scores[:1]])


class ThreeDimensionalModel(nn.Module):
    """[n, 2, 1]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2].unsqueeze(2)


class NoColumnModel(nn.Module):
    """[n, 0]: rows but no class scores."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :0]


class NaNModel(nn.Module):
    """NaN for the third row only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = x[:, :2].clone()
        if logits.shape[0] > 2:
            logits[2, 0] = float("nan")
        return logits


class InfModel(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :2] * float("inf")


class Squeeze(nn.Module):
    """[n, 1] to [n]."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]


# --- the CLI ----------------------------------------------------------------------------------


@dataclass
class Cli:
    """Runs ``rai-audit`` in-process from a scratch working directory."""

    cwd: Path

    def __call__(self, *args: str | Path) -> Result:
        runner = CliRunner()
        return runner.invoke(app, [str(arg) for arg in args])

    def input_error(self, args: Sequence[str | Path], *needles: str) -> str:
        """Run, expect exit 2 with one ``rai-audit: error:`` line holding ``needles``; return it."""
        result = self(*args)
        assert_one_line_error(result, *needles)
        return result.stderr.strip()


def assert_one_line_error(result: Result, *needles: str, exit_code: int = 2) -> None:
    assert result.exit_code == exit_code, (result.exit_code, result.output, result.exception)
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rai-audit: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert result.stdout == "", result.stdout


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cli]:
    """The CLI, run where no rai-audit.toml or pyproject.toml can change its policy."""
    scratch = tmp_path / "cwd"
    scratch.mkdir()
    monkeypatch.chdir(scratch)
    yield Cli(scratch)
