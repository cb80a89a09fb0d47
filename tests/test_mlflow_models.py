"""MLflow model directories, written here by hand exactly as mlflow 3.x's ``save_model`` writes
them (no mlflow package): the ``MLmodel`` file picks the flavour's model file, the signature's
columns give the input order, a pickled flavour needs --trust-model, and the report hashes the
whole directory.

Expected figures come from the fitted model itself on the table as pandas reads it, with
fairlearn; the acceptance test audits the same model's decisions as a predictions column.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import sys
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
import yaml
from conftest import (
    FAST_N_BOOT,
    Cli,
    Workspace,
    default_logits,
    default_module,
    sha256,
)
from fairlearn.metrics import MetricFrame, selection_rate
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from test_frame_models import raw_frame

from audit import AuditRequest, ModelError, run_audit
from audit.core.result import AuditResult
from audit.models import load_model

MLFLOW_VERSION = "3.15.1"
PYTHON_ENV = {"python": "3.13.11", "build_dependencies": ["pip"], "dependencies": []}
# mlflow's names for pandas dtypes in a column spec (mlflow.types.DataType).
_COLUMN_TYPES = {"i": "long", "f": "double", "b": "boolean", "O": "string"}


def column_specs(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """``signature.inputs`` as mlflow's ``infer_signature`` writes it for a DataFrame."""
    return [
        {"type": _COLUMN_TYPES[frame[column].dtype.kind], "name": str(column), "required": True}
        for column in frame.columns
    ]


def tensor_spec(width: int) -> list[dict[str, Any]]:
    return [{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, width]}}]


def write_mlmodel(
    directory: Path, flavors: dict[str, Any], inputs: list[dict[str, Any]] | None = None
) -> Path:
    """The MLmodel file and environment files of ``mlflow.models.Model.save``: YAML by
    ``yaml.safe_dump``, the signature's schemas as JSON strings inside it."""
    document: dict[str, Any] = {
        "artifact_path": "model",
        "flavors": flavors,
        "mlflow_version": MLFLOW_VERSION,
        "model_size_bytes": sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()),
        "model_uuid": "m-0a24c301ab8840bc9af390a84b80d1ca",
        "utc_time_created": "2026-08-04 11:00:46.002863",
    }
    if inputs is not None:
        document["signature"] = {
            "inputs": json.dumps(inputs),
            "outputs": json.dumps(tensor_spec(2)),
            "params": None,
        }
    (directory / "MLmodel").write_text(yaml.safe_dump(document, default_flow_style=False))
    (directory / "python_env.yaml").write_text(yaml.safe_dump(PYTHON_ENV))
    (directory / "conda.yaml").write_text(yaml.safe_dump({"name": "mlflow-env"}))
    (directory / "requirements.txt").write_text(f"mlflow=={MLFLOW_VERSION}\n")
    return directory


def _pyfunc(**config: Any) -> dict[str, Any]:
    return {
        "env": {"conda": "conda.yaml", "virtualenv": "python_env.yaml"},
        "python_version": PYTHON_ENV["python"],
        **config,
    }


def save_sklearn(
    model: Any, directory: Path, serialization: str = "skops", inputs: list[Any] | None = None
) -> Path:
    """``mlflow.sklearn.save_model(model, directory, serialization_format=...)``."""
    directory.mkdir(parents=True)
    if serialization == "skops":
        import skops.io

        name = "model.skops"
        skops.io.dump(model, directory / name)
    else:
        import cloudpickle

        name = "model.pkl"
        dumps = cloudpickle.dumps if serialization == "cloudpickle" else pickle.dumps
        (directory / name).write_bytes(dumps(model))
    flavors = {
        "python_function": _pyfunc(
            loader_module="mlflow.sklearn", model_path=name, predict_fn="predict"
        ),
        "sklearn": {
            "code": None,
            "pickled_model": name,
            "serialization_format": serialization,
            "sklearn_version": sklearn.__version__,
            "skops_trusted_types": None,
        },
    }
    return write_mlmodel(directory, flavors, inputs)


def save_pytorch(
    module: torch.nn.Module, directory: Path, inputs: list[Any], how: str = "script"
) -> Path:
    """``mlflow.pytorch.save_model``: a scripted module through ``ScriptModule.save`` to
    data/model.pth, an eager one pickled by ``torch.save`` there, or with
    ``serialization_format="pt2"`` a ``torch.export`` program in data/model.pt2."""
    data = directory / "data"
    data.mkdir(parents=True)
    if how == "pt2":
        program = torch.export.export(
            module.eval(),
            (torch.zeros(4, 2),),
            dynamic_shapes=({0: torch.export.Dim("dynamic_dim")},),
        )
        torch.export.save(program, str(data / "model.pt2"))
    else:
        (data / "pickle_module_info.txt").write_text("mlflow.pytorch.pickle_module")
        if how == "script":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.13 on TorchScript
                torch.jit.script(module.eval()).save(str(data / "model.pth"))
        else:
            torch.save(module, data / "model.pth")
    flavors = {
        "python_function": _pyfunc(
            code=None,
            config={"device": None},
            data="data",
            loader_module="mlflow.pytorch",
            pickle_module_name="mlflow.pytorch.pickle_module",
        ),
        "pytorch": {"code": None, "model_data": "data", "pytorch_version": str(torch.__version__)},
    }
    return write_mlmodel(directory, flavors, inputs)


def folder_digest(directory: Path) -> str:
    """The model directory's hash, computed apart from audit.core.trail."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(f"{path.relative_to(directory).as_posix()}\0{sha256(path)}\n".encode())
    return digest.hexdigest()


def shuffled(frame: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """The same table with its columns in another order."""
    order = np.random.default_rng(seed).permutation(frame.columns)
    assert list(order) != list(frame.columns)
    return frame[order]


def audit(data: Path, model: Path, **options: Any) -> AuditResult:
    return run_audit(
        AuditRequest(
            data=data,
            model=model,
            target=options.pop("target", "label"),
            sensitive=("sex",),
            positive_label=options.pop("positive_label", "1"),
            search_config=False,
            policy_overrides={"n_boot": FAST_N_BOOT},
            explain=False,
            **options,
        )
    )


def rates_by_sex(frame: pd.DataFrame, y_true: Any, decisions: np.ndarray) -> dict[str, float]:
    rates = MetricFrame(
        metrics=selection_rate,
        y_true=np.asarray(y_true).astype(int),
        y_pred=decisions.astype(int),
        sensitive_features=frame["sex"],
    ).by_group
    return {str(group): float(rate) for group, rate in rates.items()}


def reported_rates(result: AuditResult) -> dict[str, float]:
    return {
        e.group[0]: e.metrics["selection_rate"]
        for e in result.groups
        if e.feature == ("sex",) and e.metrics["selection_rate"] is not None
    }


# --- the sklearn flavour -------------------------------------------------------------------


def test_skops_model_reads_its_columns_in_signature_order(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    # Fitted on an array in the order x1, x2; the file holds x2 before x1, and the CSV below
    # shuffles them again: only the signature can say which column is which.
    model = LogisticRegression().fit(frame[["x1", "x2"]].to_numpy(), frame["label"])
    directory = save_sklearn(
        model, workspace.root / "model", inputs=column_specs(frame[["x1", "x2"]])
    )
    data = workspace.table(shuffled(frame))
    read = pd.read_csv(data)

    result = audit(data, directory)

    info = result.run.model
    assert info.kind == "mlflow-sklearn" and not info.trusted
    assert info.features == ("x1", "x2") and info.feature_source == "metadata"
    assert info.notes[0] == (
        f"MLflow model, flavour sklearn (skops, model.skops), saved by MLflow {MLFLOW_VERSION}"
    )
    assert info.notes[1] == "input columns in the order of the MLmodel signature: x1, x2"
    assert info.file is not None and info.file.path == str(directory)
    assert info.file.sha256 == folder_digest(directory)
    assert info.file.bytes == sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    decisions = model.predict_proba(read[["x1", "x2"]].to_numpy())[:, 1] >= 0.5
    wrong_order = model.predict_proba(read[["x2", "x1"]].to_numpy())[:, 1] >= 0.5
    assert rates_by_sex(read, read["label"], decisions) != rates_by_sex(
        read, read["label"], wrong_order
    )
    assert reported_rates(result) == pytest.approx(
        rates_by_sex(read, read["label"], decisions), abs=1e-12
    )


NUMERIC, CATEGORICAL = ["age", "hours"], ["job", "sex"]


def raw_pipeline(frame: pd.DataFrame) -> Pipeline:
    columns = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("num", StandardScaler(), NUMERIC),
        ]
    )
    pipeline = Pipeline([("columns", columns), ("model", LogisticRegression())])
    return pipeline.fit(frame[NUMERIC + CATEGORICAL], frame["income"])


def test_skops_pipeline_reads_the_raw_columns(workspace: Workspace) -> None:
    frame = raw_frame(300)
    pipeline = raw_pipeline(frame)
    inputs = column_specs(frame[NUMERIC + CATEGORICAL])
    directory = save_sklearn(pipeline, workspace.root / "model", inputs=inputs)
    data = workspace.table(shuffled(frame))
    read = pd.read_csv(data)

    result = audit(data, directory, target="income", positive_label=">50K")

    info = result.run.model
    assert info.kind == "mlflow-sklearn" and info.feature_source == "frame"
    assert info.features == tuple(NUMERIC + CATEGORICAL)
    positive = list(pipeline.classes_).index(">50K")
    decisions = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])[:, positive] >= 0.5
    expected = rates_by_sex(read, read["income"] == ">50K", decisions)
    assert reported_rates(result) == pytest.approx(expected, abs=1e-12)


def test_pickled_sklearn_flavour_needs_trust(
    cli: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(frame[["x2", "x1"]].to_numpy(), frame["label"])
    directory = save_sklearn(
        model, workspace.root / "model", "cloudpickle", column_specs(frame[["x2", "x1"]])
    )
    data = workspace.table(frame)
    args = [directory, data, "--target", "label", "--sensitive", "sex", "--no-explain"]

    cli.input_error(
        ["run", *args, "--out", "refused"],
        f"{directory / 'model.pkl'}: is a pickle",
        "--trust-model",
    )

    result = cli("run", *args, "--trust-model", "--out", "trusted")
    assert result.exit_code in (0, 1), result.output
    document = json.loads((cli.cwd / "trusted" / "report.json").read_text(encoding="utf-8"))
    assert document["run"]["model"]["kind"] == "mlflow-sklearn"
    assert document["run"]["model"]["trusted"] is True
    assert document["run"]["model"]["notes"][0].startswith(
        "MLflow model, flavour sklearn (cloudpickle, model.pkl)"
    )
    decisions = model.predict_proba(frame[["x2", "x1"]].to_numpy())[:, 1] >= 0.5
    reported = {
        e["group"][0]: e["metrics"]["selection_rate"]
        for e in document["groups"]
        if e["feature"] == ["sex"]
    }
    assert reported == pytest.approx(rates_by_sex(frame, frame["label"], decisions), abs=1e-12)


# --- the pytorch flavour -------------------------------------------------------------------


def test_torchscript_flavour_reads_signature_columns(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    directory = save_pytorch(
        default_module(), workspace.root / "model", column_specs(frame[["x2", "x1"]])
    )
    data = workspace.table(shuffled(frame))
    read = pd.read_csv(data)

    result = audit(data, directory)

    info = result.run.model
    assert info.kind == "mlflow-pytorch" and not info.trusted
    assert info.features == ("x2", "x1")
    assert info.notes[0] == (
        f"MLflow model, flavour pytorch (data/model.pth, torch {torch.__version__}), saved by "
        f"MLflow {MLFLOW_VERSION}"
    )
    logits = default_logits(read)
    expected = rates_by_sex(read, read["label"], logits[:, 1] >= logits[:, 0])
    assert reported_rates(result) == pytest.approx(expected, abs=1e-12)


def test_torch_export_flavour_takes_the_signature_tensor_width(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    directory = save_pytorch(default_module(), workspace.root / "model", tensor_spec(2), "pt2")

    loaded = load_model(directory)

    assert loaded.kind == "mlflow-pytorch" and loaded.input_width == 2
    assert loaded.metadata_text is None  # a tensor signature names no columns
    batch = frame[["x2", "x1"]].to_numpy(dtype=np.float32)
    np.testing.assert_allclose(
        loaded.adapter.predict_proba(batch), default_logits(frame), rtol=1e-5, atol=1e-6
    )


def test_pickled_torch_module_needs_trust(workspace: Workspace, frame: pd.DataFrame) -> None:
    directory = save_pytorch(
        default_module(), workspace.root / "model", column_specs(frame[["x2", "x1"]]), "pickle"
    )

    with pytest.raises(ModelError, match=r"model\.pth: is a pickle.*--trust-model"):
        load_model(directory)

    loaded = load_model(directory, trust=True)
    assert loaded.kind == "mlflow-pytorch" and loaded.trusted
    assert loaded.extra["file_scan"].file == "model.pth"
    batch = frame[["x2", "x1"]].to_numpy(dtype=np.float32)
    np.testing.assert_allclose(
        loaded.adapter.predict_proba(batch), default_logits(frame), rtol=1e-5, atol=1e-6
    )


# --- the onnx flavour ----------------------------------------------------------------------


def test_onnx_flavour_dispatches_to_the_onnx_loader(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    # Needs the .onnx loader of load_model (the onnx branch); MLflow's part is the dispatch.
    import onnx
    from skl2onnx import to_onnx

    model = LogisticRegression().fit(frame[["x1", "x2"]].to_numpy(), frame["label"])
    converted = to_onnx(
        model,
        frame[["x1", "x2"]].to_numpy(dtype=np.float32)[:1],
        options={id(model): {"zipmap": False}},
        target_opset=17,
    )
    directory = workspace.root / "model"
    directory.mkdir()
    onnx.save_model(converted, str(directory / "model.onnx"), save_as_external_data=True)
    flavors = {
        "onnx": {
            "code": None,
            "data": "model.onnx",
            "onnx_session_options": None,
            "onnx_version": onnx.__version__,
            "providers": ["CUDAExecutionProvider", "CPUExecutionProvider"],
        },
        "python_function": _pyfunc(code=None, data="model.onnx", loader_module="mlflow.onnx"),
    }
    write_mlmodel(directory, flavors, column_specs(frame[["x1", "x2"]]))
    data = workspace.table(shuffled(frame))
    read = pd.read_csv(data)

    result = audit(data, directory)

    info = result.run.model
    assert info.kind == "mlflow-onnx" and info.features == ("x1", "x2")
    assert {package: result.run.versions[package] for package in ("onnxruntime", "pyyaml")} == {
        package: version(package) for package in ("onnxruntime", "pyyaml")
    }
    assert info.notes[0].startswith("MLflow model, flavour onnx (model.onnx, onnx ")
    decisions = model.predict_proba(read[["x1", "x2"]].to_numpy())[:, 1] >= 0.5
    expected = rates_by_sex(read, read["label"], decisions)
    assert reported_rates(result) == pytest.approx(expected, abs=1e-12)


# --- what cannot be audited ----------------------------------------------------------------


def test_python_function_model_is_refused(cli: Cli, workspace: Workspace) -> None:
    directory = workspace.root / "model"
    directory.mkdir()
    (directory / "python_model.pkl").write_bytes(pickle.dumps({"not": "run"}))
    flavors = {
        "python_function": _pyfunc(
            cloudpickle_version="3.1.1",
            code=None,
            loader_module="mlflow.pyfunc.model",
            python_model="python_model.pkl",
        )
    }
    write_mlmodel(directory, flavors)
    data = workspace.table(pd.DataFrame({"x": [1, 2], "label": [0, 1], "sex": ["F", "M"]}))

    cli.input_error(
        ["run", directory, data, "--target", "label", "--sensitive", "sex", "--trust-model"],
        "python_function model (loader_module mlflow.pyfunc.model)",
        "--predictions COL",
    )


def test_signature_column_missing_from_the_data(
    cli: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    model = LogisticRegression().fit(frame[["x1", "x2"]].to_numpy(), frame["label"])
    directory = save_sklearn(
        model, workspace.root / "model", inputs=column_specs(frame[["x1", "x2"]])
    )
    data = workspace.table(frame.drop(columns="x1"))

    cli.input_error(
        ["run", directory, data, "--target", "label", "--sensitive", "sex"], "no column 'x1'"
    )


def test_directory_without_mlmodel_says_what_a_model_directory_is(
    cli: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    directory = workspace.root / "model"
    directory.mkdir()
    cli.input_error(
        ["run", directory, workspace.table(frame), "--target", "label", "--sensitive", "sex"],
        f"{directory}: is a folder with no model rai-audit recognises (no MLmodel",
        "config.json",
    )


def test_the_mlmodel_file_itself_names_its_directory(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    directory = save_sklearn(LogisticRegression().fit([[0], [1]], [0, 1]), workspace.root / "m")

    with pytest.raises(ModelError, match="MLmodel file of an MLflow model; name its directory"):
        load_model(directory / "MLmodel")


def test_mlmodel_cannot_name_a_file_outside_its_directory(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    outside = workspace.skops(LogisticRegression().fit(frame[["x1", "x2"]], frame["label"]))
    directory = save_sklearn(LogisticRegression().fit([[0], [1]], [0, 1]), workspace.root / "m")
    document = yaml.safe_load((directory / "MLmodel").read_text())
    document["flavors"]["sklearn"]["pickled_model"] = f"../{outside.name}"
    (directory / "MLmodel").write_text(yaml.safe_dump(document))

    with pytest.raises(ModelError, match=r"pickled_model '\.\./model\.skops' points outside"):
        load_model(directory)


def test_missing_pyyaml_names_the_extra(
    workspace: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = save_sklearn(LogisticRegression().fit([[0], [1]], [0, 1]), workspace.root / "m")
    monkeypatch.setitem(sys.modules, "yaml", None)  # import yaml now raises ImportError

    with pytest.raises(ModelError, match=r"needs PyYAML; pip install 'rai-audit\[mlflow\]'"):
        load_model(directory)


# --- the acceptance test: the CLI on an MLflow model, against its own decisions -------------


def test_mlflow_model_audits_like_its_own_predictions(cli: Cli, workspace: Workspace) -> None:
    frame = raw_frame(300)
    pipeline = raw_pipeline(frame)
    directory = save_sklearn(
        pipeline, workspace.root / "model", inputs=column_specs(frame[NUMERIC + CATEGORICAL])
    )
    data = workspace.table(frame)
    common = ["--target", "income", "--positive-label", ">50K", "--sensitive", "sex,job"]
    common += ["--no-explain"]
    by_model = cli("run", directory, data, *common, "--out", "model-out")
    assert by_model.exit_code in (0, 1), by_model.output

    read = pd.read_csv(data)
    positive = list(pipeline.classes_).index(">50K")
    scores = pipeline.predict_proba(read[NUMERIC + CATEGORICAL])[:, positive]
    decided = read.assign(decision=np.where(scores >= 0.5, ">50K", "<=50K"), score=scores)
    predictions = workspace.table(decided, "predictions.csv")
    by_column = cli(
        "run", predictions, *common, "--predictions", "decision", "--scores", "score",
        "--out", "column-out",
    )  # fmt: skip
    assert by_column.exit_code in (0, 1), by_column.output

    def groups(out: str) -> dict[tuple[str, ...], dict[str, Any]]:
        document = json.loads((cli.cwd / out / "report.json").read_text(encoding="utf-8"))
        return {
            (*entry["feature"], *entry["group"]): entry["metrics"] for entry in document["groups"]
        }

    from_model, from_column = groups("model-out"), groups("column-out")
    assert len(from_model) == 2 + 4 + 8  # sex, job and their intersections
    assert from_model.keys() == from_column.keys()
    for key, metrics in from_model.items():
        assert metrics == pytest.approx(from_column[key], abs=1e-12), key
