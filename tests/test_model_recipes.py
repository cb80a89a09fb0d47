"""The recipes of docs/model-formats.md run as written, on a small table made here, and give
the figures of the models they build."""

from __future__ import annotations

import json
import re
import shlex
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from conftest import Cli
from fairlearn.metrics import MetricFrame, selection_rate

DOC = Path(__file__).resolve().parents[1] / "docs" / "model-formats.md"
_RECIPE = re.compile(r"<!-- recipe: ([\w-]+) -->\n```(\w+)\n(.*?)```", re.DOTALL)


def recipes() -> dict[str, str]:
    return {name: body for name, _, body in _RECIPE.findall(DOC.read_text(encoding="utf-8"))}


def census(rows: int = 240, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, size=rows)
    sex = rng.choice(["Female", "Male"], size=rows)
    signal = 0.06 * (age - 40) + 0.6 * (sex == "Male")
    return pd.DataFrame(
        {
            "age": age,
            "workclass": rng.choice(["Private", "Self-emp", "State-gov"], size=rows),
            "hours-per-week": rng.integers(10, 60, size=rows),
            "sex": sex,
            "income": np.where(signal + rng.normal(size=rows) > 0, ">50K", "<=50K"),
        }
    )


def run_console(cli: Cli, body: str) -> dict[str, Any]:
    """The recipe's ``rai-audit run`` line, in-process; its report.json."""
    args = shlex.split(body.strip())
    assert args[0] == "rai-audit"
    result = cli(*args[1:])
    assert result.exit_code in (0, 1), result.output  # 1: a finding failed the gate
    out = Path(args[args.index("--out") + 1])
    document: dict[str, Any] = json.loads((out / "report.json").read_text(encoding="utf-8"))
    return document


def selection_by_sex(frame: pd.DataFrame, decisions: np.ndarray) -> dict[str, float]:
    rates = MetricFrame(
        metrics=selection_rate,
        y_true=(frame["income"] == ">50K").astype(int),
        y_pred=decisions.astype(int),
        sensitive_features=frame["sex"],
    ).by_group
    return {str(group): float(rate) for group, rate in rates.items()}


def reported_selection(document: dict[str, Any]) -> dict[str, float]:
    return {
        entry["group"][0]: entry["metrics"]["selection_rate"]
        for entry in document["groups"]
        if entry["feature"] == ["sex"]
    }


def result_selection(result: Any) -> dict[str, float]:
    return {e.group[0]: e.metrics["selection_rate"] for e in result.groups if e.feature == ("sex",)}


def test_every_kind_has_a_recipe() -> None:
    assert set(recipes()) == {
        "sklearn-pipeline",
        "sklearn-pipeline-audit",
        "in-process",
        "torch-export",
        "torch-export-audit",
        "mlflow-sklearn",
        "mlflow-sklearn-audit",
        "onnx-sklearn",
        "onnx-sklearn-audit",
        "onnx-torch",
        "onnx-torch-audit",
        "huggingface",
        "huggingface-audit",
    }


def test_recipes_run_as_written(cli: Cli) -> None:
    frame = census()
    frame.to_csv("data.csv", index=False)
    found = recipes()
    namespace: dict[str, Any] = {}
    exec(found["sklearn-pipeline"], namespace)
    pipeline = namespace["pipeline"]
    document = run_console(cli, found["sklearn-pipeline-audit"])
    assert document["run"]["model"]["feature_source"] == "frame"
    positive = list(pipeline.classes_).index(">50K")
    expected = pipeline.predict_proba(frame.drop(columns="income"))[:, positive] >= 0.5
    assert reported_selection(document) == pytest.approx(selection_by_sex(frame, expected))
    assert set(document["explanations"]["columns"]) == {"age", "workclass", "hours-per-week", "sex"}

    exec(found["in-process"], namespace)
    result = namespace["result"]
    assert result.run.model.kind == "in-process"
    rates = {
        e.group[0]: e.metrics["selection_rate"] for e in result.groups if e.feature == ("sex",)
    }
    assert rates == pytest.approx(selection_by_sex(frame, expected))
    scored = namespace["scored"]
    by_age = 1 / (1 + np.exp(-(frame["age"].to_numpy() - 40) / 10)) >= 0.5
    rates = {
        e.group[0]: e.metrics["selection_rate"] for e in scored.groups if e.feature == ("sex",)
    }
    assert rates == pytest.approx(selection_by_sex(frame, by_age))

    exec(found["torch-export"], namespace)
    import torch

    with torch.no_grad():
        logits = namespace["model"](namespace["inputs"])
    document = run_console(cli, found["torch-export-audit"])
    assert document["run"]["model"]["feature_source"] == "metadata"
    assert reported_selection(document) == pytest.approx(
        selection_by_sex(frame, (logits[:, 1] >= logits[:, 0]).numpy())
    )


def test_mlflow_recipe_runs_as_written(cli: Cli) -> None:
    frame = census()
    frame.to_csv("data.csv", index=False)
    found = recipes()
    namespace: dict[str, Any] = {}
    exec(found["mlflow-sklearn"], namespace)
    pipeline = namespace["pipeline"]
    document = run_console(cli, found["mlflow-sklearn-audit"])
    model = document["run"]["model"]
    assert model["kind"] == "mlflow-sklearn" and model["feature_source"] == "frame"
    assert model["notes"][0] == (
        "MLflow model, flavour sklearn (skops, model.skops), saved by MLflow 3.15.1"
    )
    positive = list(pipeline.classes_).index(">50K")
    expected = pipeline.predict_proba(frame.drop(columns="income"))[:, positive] >= 0.5
    assert reported_selection(document) == pytest.approx(selection_by_sex(frame, expected))


NUMBERS = ("age", "hours-per-week")


def test_onnx_recipes_run_as_written(cli: Cli) -> None:
    import onnxruntime
    import torch

    frame = census()
    frame.to_csv("data.csv", index=False)
    found = recipes()
    namespace: dict[str, Any] = {}
    exec(found["sklearn-pipeline"], namespace)
    exec(found["onnx-sklearn"], namespace)
    session = onnxruntime.InferenceSession("pipeline.onnx", providers=["CPUExecutionProvider"])
    # One input per column, in order, named as skl2onnx writes names ('hours_per_week').
    names = [node.name for node in session.get_inputs()]
    assert names == ["age", "workclass", "hours_per_week", "sex"]
    feeds = {  # the example's float32 numbers, and strings as objects
        name: frame[[column]].to_numpy(dtype=np.float32 if column in NUMBERS else object)
        for name, column in zip(names, namespace["example"].columns, strict=True)
    }
    scores = np.array([row[">50K"] for row in session.run(None, feeds)[1]])
    pipeline = namespace["pipeline"]
    positive = list(pipeline.classes_).index(">50K")
    np.testing.assert_allclose(
        scores, pipeline.predict_proba(frame.drop(columns="income"))[:, positive], atol=1e-6
    )
    document = run_console(cli, found["onnx-sklearn-audit"])
    assert document["run"]["model"]["kind"] == "onnx"
    assert document["run"]["model"]["feature_source"] == "frame"
    assert reported_selection(document) == pytest.approx(selection_by_sex(frame, scores >= 0.5))

    exec(found["torch-export"], namespace)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch deprecates this exporter
        exec(found["onnx-torch"], namespace)
    with torch.no_grad():
        logits = namespace["model"](namespace["inputs"])
    document = run_console(cli, found["onnx-torch-audit"])
    assert document["run"]["model"]["kind"] == "onnx"
    assert document["run"]["model"]["feature_source"] == "metadata"
    assert reported_selection(document) == pytest.approx(
        selection_by_sex(frame, (logits[:, 1] >= logits[:, 0]).numpy())
    )


def test_huggingface_recipe_runs_as_written(cli: Cli) -> None:
    pytest.importorskip("transformers")
    import torch
    from test_text_kit import sentences

    frame = sentences(60, seed=30)
    frame.to_csv("reviews.csv", index=False)
    found = recipes()
    namespace: dict[str, Any] = {}
    exec(found["huggingface"], namespace)
    document = run_console(cli, found["huggingface-audit"])
    assert document["run"]["model"]["kind"] == "huggingface"
    assert document["text"]["model"]["format"] == "huggingface/bert"
    model, tokenizer = namespace["model"], namespace["tokenizer"]
    batch = tokenizer(list(frame["text"]), padding=True, return_tensors="pt")
    with torch.no_grad():
        scores = torch.softmax(model(**batch).logits.double(), dim=1)[:, 1].numpy()
    positive = (frame["label"] == "positive").to_numpy()
    performance = document["text"]["performance"]
    assert performance["accuracy"] == pytest.approx(float(((scores >= 0.5) == positive).mean()))
