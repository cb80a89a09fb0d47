"""The plain pipeline any audit has to beat: read the CSV, encode the features from the model's
embedded metadata with NumPy, run the bundled TorchScript model once under ``torch.no_grad``.

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

    def encode(self, frame: pd.DataFrame) -> np.ndarray:
        """float32 ``[rows, inputs]``: numeric columns standardized, categories one-hot,
        written into one matrix (no per-column blocks to join: the least memory touched)."""
        specs = self.metadata["features"]
        widths = [1 if spec["kind"] == "numeric" else len(spec["categories"]) for spec in specs]
        inputs = np.zeros((len(frame), sum(widths)), dtype=np.float32)
        first = 0
        for spec, width in zip(specs, widths, strict=True):
            column = frame[spec["column"]]
            if spec["kind"] == "numeric":
                scale = spec.get("scale", 1.0) or 1.0
                inputs[:, first] = (column.to_numpy(np.float64) - spec.get("mean", 0.0)) / scale
            else:
                # Match the few distinct values to the model's categories, then scatter by
                # code: the cheapest correct one-hot encoding, so that (b) is a fair floor.
                row_codes, distinct = pd.factorize(column)
                position = {category: index for index, category in enumerate(spec["categories"])}
                lookup = np.array([position.get(str(value), -1) for value in distinct] + [-1])
                codes = lookup[row_codes]  # a missing value's code -1 picks the trailing -1
                known = np.flatnonzero(codes >= 0)
                inputs[known, first + codes[known]] = 1.0
            first += width
        return inputs

    def decide(self, inputs: np.ndarray) -> np.ndarray:
        """int8 decisions, 1 = the positive class, in batches of ``BATCH_SIZE``."""
        outputs = []
        with torch.no_grad():
            for first in range(0, len(inputs), BATCH_SIZE):
                batch = torch.from_numpy(inputs[first : first + BATCH_SIZE])
                outputs.append(self.module(batch).numpy())
        logits = np.concatenate(outputs)
        positive = self.metadata["class_labels"].index(self.metadata["positive_label"])
        # Softmax probability >= 0.5 for one of two classes is "its logit is the larger".
        return (logits.argmax(axis=1) == positive).astype(np.int8)


def plain_pipeline(path: Path) -> PlainRun:
    """Read, encode and infer without rai-audit: the least work any audit has to do."""
    start = time.perf_counter()
    frame = pd.read_csv(path)
    read_done = time.perf_counter()
    model = PlainModel.load()
    inputs = model.encode(frame)
    encode_done = time.perf_counter()
    decisions = model.decide(inputs)
    done = time.perf_counter()
    return PlainRun(
        read=read_done - start,
        encode=encode_done - read_done,
        inference=done - encode_done,
        decisions=decisions,
        sex=frame["sex"].to_numpy(),
    )
