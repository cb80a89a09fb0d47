"""The plain pipeline any audit has to beat: read the CSV, encode the features from the model's
embedded metadata with NumPy, run the bundled TorchScript model once under ``torch.no_grad``,
a batch at a time (as rai-audit does: never the whole input matrix at once).

Imports nothing of rai-audit, so that a new process running it (``bench_run.py`` (g)) pays
only torch's and pandas' imports.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from benchkit import MODEL

BATCH_SIZE = 8192


@dataclass(frozen=True)
class PlainRun:
    read: float
    encode: float
    inference: float
    decisions: np.ndarray  # int8, 1 = the positive class
    sex: np.ndarray  # the sex column, to compare selection rates with the audit's


@dataclass(frozen=True)
class Decided:
    decisions: np.ndarray  # int8, 1 = the positive class
    encode: float  # seconds spent building the model's input
    inference: float  # seconds spent in the model and reading its output


@dataclass(frozen=True)
class PlainModel:
    """The bundled model as anyone would run it without rai-audit: encode with NumPy from the
    embedded metadata, infer under ``torch.no_grad``. ``bench_stream.py`` uses it per chunk."""

    module: torch.jit.ScriptModule
    metadata: dict[str, Any]

    @classmethod
    def load(cls) -> PlainModel:
        extra = {"rai_audit.json": ""}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated
            module = torch.jit.load(str(MODEL), _extra_files=extra)
        module.eval()
        return cls(module, json.loads(extra["rai_audit.json"]))

    def columns(self, frame: pd.DataFrame) -> list[np.ndarray]:
        """Each model column once over all rows: a numeric column standardized (float32), a
        categorical one as each row's position in its one-hot block (-1 for none)."""
        prepared = []
        for spec in self.metadata["features"]:
            column = frame[spec["column"]]
            if spec["kind"] == "numeric":
                scale = spec.get("scale", 1.0) or 1.0
                values = (column.to_numpy(np.float64) - spec.get("mean", 0.0)) / scale
                prepared.append(values.astype(np.float32))
                continue
            # Match the few distinct values to the model's categories, then look up by code:
            # the cheapest correct one-hot encoding, so that (b) is a fair floor.
            row_codes, distinct = pd.factorize(column)
            position = {category: index for index, category in enumerate(spec["categories"])}
            lookup = np.array([position.get(str(value), -1) for value in distinct] + [-1])
            prepared.append(lookup[row_codes])  # a missing value's code -1 picks the last -1
        return prepared

    def batch(self, prepared: list[np.ndarray], rows: slice) -> np.ndarray:
        """float32 ``[rows, inputs]`` of one batch: numeric columns as they are, categories
        one-hot. Built a batch at a time: the whole matrix of a million rows is 428 MB whose
        first touch costs up to a second of huge-page faults, and the model reads batches."""
        specs = self.metadata["features"]
        widths = [1 if spec["kind"] == "numeric" else len(spec["categories"]) for spec in specs]
        inputs = np.zeros((len(prepared[0][rows]), sum(widths)), dtype=np.float32)
        first = 0
        for spec, width, column in zip(specs, widths, prepared, strict=True):
            part = column[rows]
            if spec["kind"] == "numeric":
                inputs[:, first] = part
            else:
                known = np.flatnonzero(part >= 0)
                inputs[known, first + part[known]] = 1.0
            first += width
        return inputs

    def decide(self, frame: pd.DataFrame) -> Decided:
        """int8 decisions, 1 = the positive class, encoded and scored in batches of
        ``BATCH_SIZE``."""
        start = time.perf_counter()
        prepared = self.columns(frame)
        encode = time.perf_counter() - start
        inference = 0.0
        outputs = []
        with torch.no_grad():
            for first in range(0, len(frame), BATCH_SIZE):
                built = time.perf_counter()
                batch = torch.from_numpy(self.batch(prepared, slice(first, first + BATCH_SIZE)))
                scored = time.perf_counter()
                outputs.append(self.module(batch).numpy())
                encode += scored - built
                inference += time.perf_counter() - scored
        scored = time.perf_counter()
        logits = np.concatenate(outputs)
        positive = self.metadata["class_labels"].index(self.metadata["positive_label"])
        # Softmax probability >= 0.5 for one of two classes is "its logit is the larger".
        decisions = (logits.argmax(axis=1) == positive).astype(np.int8)
        return Decided(decisions, encode, inference + time.perf_counter() - scored)


def plain_pipeline(path: Path) -> PlainRun:
    """Read, encode and infer without rai-audit: the least work any audit has to do."""
    start = time.perf_counter()
    frame = pd.read_csv(path)
    read_done = time.perf_counter()
    decided = PlainModel.load().decide(frame)
    return PlainRun(
        read=read_done - start,
        encode=decided.encode,
        inference=decided.inference,
        decisions=decided.decisions,
        sex=frame["sex"].to_numpy(),
    )
