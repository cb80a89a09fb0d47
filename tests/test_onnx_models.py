"""ONNX models (skl2onnx conversions and torch.onnx exports) run by onnxruntime.

Each model is built here and converted in tmp_path. Its scores are held to the model it was
converted from, and its audit to the audit of the same model's decisions handed over as a
predictions column: the figures of one set of decisions cannot depend on how they were made.
"""

from __future__ import annotations

import json
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime
import pandas as pd
import pytest
import torch
from conftest import FAST_N_BOOT, Cli, Workspace, assert_one_line_error
from skl2onnx import to_onnx
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from audit import AuditRequest, run_audit
from audit.core.errors import ModelError
from audit.models import load_model

NUMERIC = ["age", "hours"]


def table(rows: int = 160, seed: int = 0) -> pd.DataFrame:
    """Integer numeric columns (exact in float32), a job and a sensitive sex column."""
    rng = np.random.default_rng(seed)
    age = rng.integers(18, 70, size=rows)
    hours = rng.integers(10, 60, size=rows)
    job = rng.choice(["clerk", "craft", "exec"], size=rows)
    sex = rng.choice(["Female", "Male"], size=rows)
    signal = 0.05 * (age - 40) + 0.06 * (hours - 35) + 0.8 * (job == "exec") + 0.6 * (sex == "Male")
    income = np.where(signal + rng.normal(size=rows) > 0, ">50K", "<=50K")
    return pd.DataFrame({"age": age, "hours": hours, "job": job, "sex": sex, "income": income})


def save(model: onnx.ModelProto, path: Path, props: dict[str, str] | None = None) -> Path:
    if props:
        onnx.helper.set_model_props(model, props)
    onnx.save(model, str(path))
    return path


def numeric_inputs(frame: pd.DataFrame) -> np.ndarray:
    return frame[NUMERIC].to_numpy(dtype=np.float32)


def logistic_regression(frame: pd.DataFrame) -> LogisticRegression:
    return LogisticRegression().fit(numeric_inputs(frame), frame["income"])


def frame_pipeline(frame: pd.DataFrame) -> Pipeline:
    """A pipeline fitted on the DataFrame: skl2onnx gives it one input per column."""
    columns = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), ["job", "sex"]),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline([("columns", columns), ("model", LogisticRegression())]).fit(
        frame[[*NUMERIC, "job", "sex"]], frame["income"]
    )


def convert(model: Any, example: Any, zipmap: bool) -> onnx.ModelProto:
    options = None if zipmap else {"zipmap": False}
    converted: onnx.ModelProto = to_onnx(model, example, options=options)
    return converted


class MLP(torch.nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(width, 6), torch.nn.ReLU(), torch.nn.Linear(6, 2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


def torch_onnx(module: torch.nn.Module, width: int, path: Path, dynamic: bool = True) -> Path:
    """``torch.onnx.export`` with the TorchScript-based exporter: the torch.export-based one
    (the default since torch 2.9) needs onnxscript, which the audit does not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deprecated
        torch.onnx.export(
            module.eval(),
            (torch.zeros(4, width),),
            str(path),
            dynamo=False,
            input_names=["features"],
            output_names=["logits"],
            dynamic_axes={"features": {0: "batch"}, "logits": {0: "batch"}} if dynamic else None,
        )
    return path


# The embedded feature list of the torch model: standardized age and hours, one-hot sex.
TORCH_FEATURES = {
    "format": "rai-audit/features-v1",
    "features": [
        {"column": "age", "kind": "numeric", "mean": 40.0, "scale": 15.0},
        {"column": "hours", "kind": "numeric", "mean": 35.0, "scale": 12.0},
        {"column": "sex", "kind": "categorical", "categories": ["Female", "Male"]},
    ],
    "class_labels": ["<=50K", ">50K"],
    "positive_label": ">50K",
    "output_kind": "logits",
}


def torch_encoded(frame: pd.DataFrame) -> np.ndarray:
    """TORCH_FEATURES's encoding, written out with numpy."""
    return np.column_stack(
        [
            (frame["age"] - 40.0) / 15.0,
            (frame["hours"] - 35.0) / 12.0,
            frame["sex"] == "Female",
            frame["sex"] == "Male",
        ]
    ).astype(np.float32)


def trained_mlp(frame: pd.DataFrame) -> MLP:
    """The MLP fitted on TORCH_FEATURES's encoding of ``frame`` (a few seeded steps)."""
    module = MLP(4)
    inputs = torch.from_numpy(torch_encoded(frame))
    labels = torch.tensor((frame["income"] == ">50K").to_numpy(), dtype=torch.long)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(40):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(module(inputs), labels).backward()
        optimizer.step()
    return module


# --- loading: inputs, outputs and class labels from the graph ---------------------------------


@pytest.mark.parametrize("zipmap", [True, False])
def test_logistic_regression_scores_as_scikit_learn_does(tmp_path: Path, zipmap: bool) -> None:
    frame = table()
    inputs = numeric_inputs(frame)
    estimator = logistic_regression(frame)
    path = save(convert(estimator, inputs[:1], zipmap), tmp_path / "model.onnx")
    model = load_model(path)
    assert (model.kind, model.input_width, model.trusted) == ("onnx", 2, False)
    assert model.frame_input is None and model.metadata_text is None
    # A ZipMap names the classes; a bare tensor does not (scored in the target's sorted order).
    assert model.class_labels == (("<=50K", ">50K") if zipmap else None)
    output = "output_probability" if zipmap else "probabilities"
    assert model.notes == (f"onnxruntime CPUExecutionProvider, output {output!r}",)
    scores = model.adapter.predict_proba(inputs)
    np.testing.assert_allclose(scores, estimator.predict_proba(inputs), atol=1e-6)


def test_array_pipeline_is_one_matrix_input(tmp_path: Path) -> None:
    frame = table()
    inputs = numeric_inputs(frame)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(inputs, frame["sex"])
    model = load_model(save(convert(pipeline, inputs[:1], True), tmp_path / "model.onnx"))
    assert (model.input_width, model.class_labels) == (2, ("Female", "Male"))
    scores = model.adapter.predict_proba(inputs)
    np.testing.assert_allclose(scores, pipeline.predict_proba(inputs), atol=1e-6)


@pytest.mark.parametrize("zipmap", [True, False])
def test_frame_pipeline_reads_its_columns_by_name(tmp_path: Path, zipmap: bool) -> None:
    frame = table()
    pipeline = frame_pipeline(frame)
    # skl2onnx types each input from the example: float32 numbers and string categories.
    example = frame[[*NUMERIC, "job", "sex"]].astype({"age": np.float32, "hours": np.float32})
    model = load_model(save(convert(pipeline, example[:1], zipmap), tmp_path / "model.onnx"))
    assert model.frame_input is not None
    assert model.frame_input.columns == ("age", "hours", "job", "sex")
    assert model.input_width == 4
    assert model.class_labels == (("<=50K", ">50K") if zipmap else None)
    matrix = model.frame_input.matrix(frame, Path("data.csv"))
    scores = model.adapter.predict_proba(matrix.values)
    np.testing.assert_allclose(scores, pipeline.predict_proba(frame[example.columns]), atol=1e-6)


def test_torch_export_carries_its_feature_metadata(tmp_path: Path) -> None:
    frame = table()
    module = MLP(4)
    path = torch_onnx(module, 4, tmp_path / "model.onnx")
    model = load_model(
        save(onnx.load(str(path)), path, {"rai_audit.json": json.dumps(TORCH_FEATURES)})
    )
    assert (model.input_width, model.class_labels) == (4, None)
    assert model.metadata_text is not None
    assert json.loads(model.metadata_text) == TORCH_FEATURES
    inputs = torch_encoded(frame)
    with torch.no_grad():
        logits = module(torch.from_numpy(inputs)).numpy()
    np.testing.assert_allclose(model.adapter.predict_proba(inputs), logits, atol=1e-5)


# --- end to end: a model's audit equals the audit of its decisions ----------------------------


def audit_args(model: Path | None, data: Path, out: Path, *extra: str) -> list[str | Path]:
    return [
        "run",
        *([model] if model is not None else []),
        data,
        "--target",
        "income",
        "--positive-label",
        ">50K",
        "--sensitive",
        "sex",
        "--out",
        out,
        "--n-boot",
        str(FAST_N_BOOT),
        *extra,
    ]


def report(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "report.json").read_text("utf-8"))
    return document


def onnxruntime_scores(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    """The positive-class probability as float64 (which a CSV holds exactly), run here with
    onnxruntime apart from the adapter."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outputs = session.run(None, feeds)
    if len(outputs) == 1:  # torch's logits: the softmax of two classes
        logits = outputs[0].astype(np.float64)
        return np.asarray(1 / (1 + np.exp(logits[:, 0] - logits[:, 1])))
    if isinstance(outputs[1], list):  # a ZipMap: one {label: probability} map per row
        return np.array([row[">50K"] for row in outputs[1]], dtype=np.float64)
    return outputs[1][:, 1].astype(np.float64)  # skl2onnx's probabilities, classes sorted


def onnx_case(kind: str, frame: pd.DataFrame, folder: Path) -> tuple[Path, np.ndarray]:
    """The model file of ``kind`` and its positive-class scores on ``frame``."""
    path = folder / "model.onnx"
    if kind == "logistic-zipmap":
        save(convert(logistic_regression(frame), numeric_inputs(frame)[:1], True), path)
        return path, onnxruntime_scores(path, {"X": numeric_inputs(frame)})
    if kind == "frame-pipeline-tensor":
        columns = [*NUMERIC, "job", "sex"]
        example = frame[columns].astype({"age": np.float32, "hours": np.float32})
        save(convert(frame_pipeline(frame), example[:1], False), path)
        feeds = {c: example[c].to_numpy().reshape(-1, 1) for c in columns}
        return path, onnxruntime_scores(path, feeds)
    torch_onnx(trained_mlp(frame), 4, path)
    save(onnx.load(str(path)), path, {"rai_audit.json": json.dumps(TORCH_FEATURES)})
    return path, onnxruntime_scores(path, {"features": torch_encoded(frame)})


@pytest.mark.parametrize("kind", ["logistic-zipmap", "frame-pipeline-tensor", "torch-metadata"])
def test_audit_equals_the_audit_of_its_predictions(
    cli: Cli, workspace: Workspace, tmp_path: Path, kind: str
) -> None:
    frame = table()
    data = workspace.table(frame)
    model, scores = onnx_case(kind, pd.read_csv(data), workspace.root)
    decisions = (scores >= 0.5).astype(int)
    assert 0.1 < decisions.mean() < 0.9
    scored = workspace.table(frame.assign(decision=decisions, score=scores), "scored.csv")

    by_model = cli(*audit_args(model, data, tmp_path / "model", "--explain-samples", "40"))
    assert by_model.exit_code in (0, 1), by_model.output
    by_column = cli(
        *audit_args(None, scored, tmp_path / "column", "--predictions", "decision"),
        "--scores",
        "score",
    )
    assert by_column.exit_code in (0, 1), by_column.output
    from_model, from_column = report(tmp_path / "model"), report(tmp_path / "column")
    assert from_model["run"]["model"]["kind"] == "onnx"
    # The runtime that scored the rows is recorded beside the core libraries.
    assert from_model["run"]["versions"]["onnxruntime"] == version("onnxruntime")
    assert "onnxruntime" not in from_column["run"]["versions"]
    assert from_model["groups"] == from_column["groups"]
    assert from_model["disparities"] == from_column["disparities"]
    assert from_model["explanations"]["status"] == "ok"


def test_streamed_audit_equals_the_in_memory_one(workspace: Workspace) -> None:
    data = workspace.table(table())
    model, _ = onnx_case("frame-pipeline-tensor", pd.read_csv(data), workspace.root)

    def groups(**options: Any) -> list[Any]:
        request = AuditRequest(
            data=data,
            model=model,
            target="income",
            positive_label=">50K",
            sensitive=("sex",),
            explain=False,
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            **options,
        )
        return list(run_audit(request).groups)

    assert groups(chunk_rows=50) == groups()


# --- refused inputs: one line, exit 2 ---------------------------------------------------------


def test_file_that_is_not_onnx(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    data = workspace.table(table())
    model = workspace.text("model.onnx", "not a protobuf at all\n")
    result = cli(*audit_args(model, data, tmp_path / "out"))
    assert_one_line_error(result, "model.onnx", "not an ONNX model")


def test_cuda_without_its_provider_names_the_providers(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    available = onnxruntime.get_available_providers()
    if "CUDAExecutionProvider" in available:
        pytest.skip("this onnxruntime has CUDA")
    frame = table()
    data = workspace.table(frame)
    model, _ = onnx_case("logistic-zipmap", frame, workspace.root)
    result = cli(*audit_args(model, data, tmp_path / "out", "--device", "cuda"))
    assert_one_line_error(
        result, "--device 'cuda'", "no CUDAExecutionProvider", *available, "onnxruntime-gpu"
    )


def test_width_that_disagrees_with_the_features(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    frame = table()
    data = workspace.table(frame)
    model = torch_onnx(MLP(3), 3, workspace.root / "model.onnx")
    result = cli(*audit_args(model, data, tmp_path / "out", "--features", "age,hours"))
    assert_one_line_error(result, "takes 3 input features", "gives 2", "age, hours")
    save(onnx.load(str(model)), model, {"rai_audit.json": json.dumps(TORCH_FEATURES)})
    result = cli(*audit_args(model, data, tmp_path / "out"))
    assert_one_line_error(result, "rai_audit.json describes 4 input features", "takes 3")


def two_matrix_inputs(path: Path) -> Path:
    """A graph of two [N, 2] inputs, added: neither is one table column."""
    make = onnx.helper
    graph = make.make_graph(
        [make.make_node("Add", ["left", "right"], ["sum"])],
        "two_inputs",
        [
            make.make_tensor_value_info("left", onnx.TensorProto.FLOAT, ["N", 2]),
            make.make_tensor_value_info("right", onnx.TensorProto.FLOAT, ["N", 2]),
        ],
        [make.make_tensor_value_info("sum", onnx.TensorProto.FLOAT, ["N", 2])],
    )
    model = make.make_model(graph, opset_imports=[make.make_opsetid("", 17)])
    model.ir_version = 8
    return save(model, path)


def test_graph_inputs_that_cannot_be_mapped(cli: Cli, workspace: Workspace, tmp_path: Path) -> None:
    data = workspace.table(table())
    model = two_matrix_inputs(workspace.root / "model.onnx")
    result = cli(*audit_args(model, data, tmp_path / "out"))
    assert_one_line_error(result, "model.onnx", "2 inputs (left [N, 2], right [N, 2])")


def test_fixed_batch_size_says_how_to_export(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    data = workspace.table(table())
    model = torch_onnx(MLP(2), 2, workspace.root / "model.onnx", dynamic=False)
    result = cli(*audit_args(model, data, tmp_path / "out"))
    assert_one_line_error(result, "'features'", "fixed shape [4, 2]", "dynamic batch")


def test_metadata_classes_that_contradict_the_zipmap(tmp_path: Path) -> None:
    frame = table()
    inputs = numeric_inputs(frame)
    converted = convert(logistic_regression(frame), inputs[:1], True)
    metadata = {
        "format": "rai-audit/features-v1",
        "features": [{"column": column, "kind": "numeric"} for column in NUMERIC],
        "class_labels": [">50K", "<=50K"],
    }
    path = save(converted, tmp_path / "model.onnx", {"rai_audit.json": json.dumps(metadata)})
    with pytest.raises(ModelError, match="names the classes >50K, <=50K but the graph's output"):
        load_model(path)


def test_without_onnxruntime_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = two_matrix_inputs(tmp_path / "model.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if not installed
    with pytest.raises(ModelError, match=r'pip install "rai-audit\[onnx\]"'):
        load_model(path)
