"""MLflow model directories: the ``MLmodel`` file names the flavour and its model file, which
the loader of that file's own format reads; the signature's input columns give the input order.

The layout is that of MLflow 3.x (``save_model`` of mlflow.sklearn, mlflow.pytorch and
mlflow.onnx as of mlflow 3.15, whose directories read the same keys back to 1.x):

- ``sklearn``: ``pickled_model`` is the file (``model.skops`` or ``model.pkl``) and
  ``serialization_format`` says how it was written: ``skops``, or ``pickle``/``cloudpickle``.
- ``pytorch``: ``model_data`` is a folder (``data``) holding ``model.pth`` (a TorchScript
  archive when the module was scripted, else a ``torch.save`` pickle) or ``model.pt2``
  (``serialization_format="pt2"``, a ``torch.export`` program); MLflow itself tells them apart
  by which file exists, and so does this module.
- ``onnx``: ``data`` is the file (``model.onnx``; its external tensors lie beside it).
- ``python_function`` alone (a custom ``mlflow.pyfunc`` model, ``loader_module`` and a
  cloudpickled ``python_model``) is Python code that only MLflow can run.

``signature.inputs`` is a JSON string: a list of column specs (``{"type": "double", "name":
"age", "required": true}``) or of tensor specs (``{"type": "tensor", "tensor-spec": {"dtype":
"float32", "shape": [-1, 4]}}``). Written by hand here rather than read with mlflow, a heavy
package that an audit of one directory does not need: PyYAML reads the file.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.features import METADATA_FORMAT, FeatureMetadata, NumericInput

MLMODEL_FILE = "MLmodel"
EXTRA_HINT = "pip install 'rai-audit[mlflow]'"
# The flavours the audit runs, most preferred first, and the model kind each is recorded as.
_KINDS = {"onnx": "mlflow-onnx", "sklearn": "mlflow-sklearn", "pytorch": "mlflow-pytorch"}
_SKLEARN_FORMATS = ("skops", "pickle", "cloudpickle")
_FIX = (
    "log the model with mlflow.sklearn (serialization_format='skops'), mlflow.pytorch "
    "(a scripted module or serialization_format='pt2') or mlflow.onnx"
)


@dataclass(frozen=True)
class StoredModel:
    """What an MLflow model directory holds, as its ``MLmodel`` file says."""

    directory: Path
    flavour: str  # "onnx", "sklearn" or "pytorch"
    file: Path  # the model file inside the directory
    description: str  # the flavour and format, for the report's note
    mlflow_version: str
    signature: tuple[dict[str, Any], ...]  # signature.inputs, empty without a signature


def is_mlflow_model(path: Path) -> bool:
    return path.is_dir() and (path / MLMODEL_FILE).is_file()


def load_mlflow_model(directory: Path, load_file: Callable[[Path], LoadedModel]) -> LoadedModel:
    """The model of an MLflow directory: its model file loaded by ``load_file`` (the loader of
    that file's format, which refuses a pickle without --trust-model), recorded as an MLflow
    model, its input columns from the signature unless the model names its own."""
    stored = read_mlmodel(directory)
    return as_mlflow_model(load_file(stored.file), stored)


def read_mlmodel(directory: Path) -> StoredModel:
    document = _document(directory / MLMODEL_FILE)
    flavors = document.get("flavors")
    if not isinstance(flavors, Mapping) or not flavors:
        raise ModelError(
            f"{directory / MLMODEL_FILE}: has no flavors; it is not an MLflow model file"
        )
    version = str(document.get("mlflow_version") or "an unknown version")
    signature = _signature_inputs(document.get("signature"), directory / MLMODEL_FILE)
    for flavour in _KINDS:
        config = flavors.get(flavour)
        if isinstance(config, Mapping):
            file, description = _RESOLVERS[flavour](directory, config)
            return StoredModel(directory, flavour, file, description, version, signature)
    if "python_function" in flavors:
        loader = (flavors.get("python_function") or {}).get("loader_module", "unknown")
        raise ModelError(
            f"{directory}: an MLflow python_function model (loader_module {loader}) is "
            "pickled Python code that only MLflow itself can run, which no flag here makes "
            f"safe; {_FIX}, or audit its predictions with --predictions COL"
        )
    raise ModelError(
        f"{directory}: MLflow flavour {', '.join(map(str, flavors))} is not one the audit "
        f"runs; {_FIX}, or audit its predictions with --predictions COL"
    )


def as_mlflow_model(loaded: LoadedModel, stored: StoredModel) -> LoadedModel:
    """``loaded`` recorded as the MLflow model it came from, reading the signature's input
    columns (in order) unless the model reads raw columns by name or embeds its feature list."""
    notes = [f"MLflow model, flavour {stored.description}, saved by MLflow {stored.mlflow_version}"]
    columns = _named_columns(stored.signature)
    metadata_text = loaded.metadata_text
    if columns and loaded.frame_input is None and metadata_text is None:
        # The least invasive route: the signature becomes the feature list a TorchScript
        # file embeds, so the columns reach the model as --features would, and a missing
        # column is the usual one-line error naming it.
        metadata_text = FeatureMetadata.model_validate(
            {
                "format": METADATA_FORMAT,
                "features": [NumericInput(column=column, kind="numeric") for column in columns],
            }
        ).model_dump_json(exclude_none=True)
        notes.append(f"input columns in the order of the MLmodel signature: {', '.join(columns)}")
    return dataclasses.replace(
        loaded,
        kind=_KINDS[stored.flavour],
        input_width=(
            loaded.input_width
            if loaded.input_width is not None
            else _tensor_width(stored.signature)
        ),
        metadata_text=metadata_text,
        notes=(*notes, *loaded.notes),
        runtime=(*loaded.runtime, "pyyaml"),
    )


def _document(path: Path) -> Mapping[str, Any]:
    try:
        import yaml
    except ImportError as exc:
        raise ModelError(f"{path}: reading an MLflow model needs PyYAML; {EXTRA_HINT}") from exc
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{path}: not a readable MLmodel file ({first})") from exc
    if not isinstance(document, Mapping):
        raise ModelError(f"{path}: not an MLmodel file (a YAML mapping with flavors)")
    return document


def _inner(directory: Path, config: Mapping[str, Any], key: str) -> Path:
    """The path the flavour's ``key`` names, which must lie inside the model directory: the
    directory is what the report hashes, and a file outside it is not the model's own."""
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise ModelError(
            f"{directory / MLMODEL_FILE}: the flavour gives no {key}; it is not an MLflow "
            "model file as mlflow writes it"
        )
    path = directory / value
    root = directory.resolve()
    if not path.resolve().is_relative_to(root) or path.resolve() == root:
        raise ModelError(
            f"{directory / MLMODEL_FILE}: {key} {value!r} points outside the model directory; "
            "an MLflow model keeps its files inside it"
        )
    return path


def _existing(path: Path, directory: Path) -> Path:
    if not path.is_file():
        raise ModelError(
            f"{path}: the model file that {directory / MLMODEL_FILE} names is missing; copy "
            "the whole MLflow model directory"
        )
    return path


def _sklearn(directory: Path, config: Mapping[str, Any]) -> tuple[Path, str]:
    file = _existing(_inner(directory, config, "pickled_model"), directory)
    # The mlflow releases that wrote no format only pickled.
    serialization = str(config.get("serialization_format") or "pickle")
    if serialization not in _SKLEARN_FORMATS:
        raise ModelError(
            f"{directory / MLMODEL_FILE}: unknown sklearn serialization_format "
            f"{serialization!r}; mlflow writes skops, pickle or cloudpickle"
        )
    expected = ".skops" if serialization == "skops" else ".pkl"
    if file.suffix.lower() != expected:
        # The file's loader is chosen by its suffix; a file not named as mlflow names it
        # could be read as a format the MLmodel does not claim.
        raise ModelError(
            f"{file}: the MLmodel says serialization_format {serialization}, which mlflow "
            f"writes as a {expected} file; rename it or fix the MLmodel"
        )
    return file, f"sklearn ({serialization}, {file.name})"


def _pytorch(directory: Path, config: Mapping[str, Any]) -> tuple[Path, str]:
    data = _inner(directory, config, "model_data")
    if data.is_dir():
        # mlflow.pytorch's own loader: model.pth (TorchScript or a pickle) if present, else
        # the torch.export program model.pt2.
        data = data / "model.pth" if (data / "model.pth").exists() else data / "model.pt2"
    file = _existing(data, directory)
    version = config.get("pytorch_version")
    saved_with = f", torch {version}" if version else ""
    return file, f"pytorch ({file.relative_to(directory).as_posix()}{saved_with})"


def _onnx(directory: Path, config: Mapping[str, Any]) -> tuple[Path, str]:
    file = _existing(_inner(directory, config, "data"), directory)
    version = config.get("onnx_version")
    saved_with = f", onnx {version}" if version else ""
    return file, f"onnx ({file.name}{saved_with})"


_RESOLVERS: dict[str, Callable[[Path, Mapping[str, Any]], tuple[Path, str]]] = {
    "onnx": _onnx,
    "sklearn": _sklearn,
    "pytorch": _pytorch,
}


def _signature_inputs(signature: Any, source: Path) -> tuple[dict[str, Any], ...]:
    if not isinstance(signature, Mapping) or signature.get("inputs") is None:
        return ()
    inputs = signature["inputs"]
    try:
        # mlflow writes the specs as a JSON string inside the YAML file.
        specs = json.loads(inputs) if isinstance(inputs, str) else inputs
    except json.JSONDecodeError as exc:
        raise ModelError(
            f"{source}: signature.inputs is not JSON ({exc.msg}); save the model with "
            "mlflow's infer_signature"
        ) from exc
    if not isinstance(specs, list) or not all(isinstance(spec, Mapping) for spec in specs):
        raise ModelError(
            f"{source}: signature.inputs is not a list of column or tensor specs; save the "
            "model with mlflow's infer_signature"
        )
    return tuple(dict(spec) for spec in specs)


def _named_columns(specs: tuple[dict[str, Any], ...]) -> tuple[str, ...]:
    """The signature's column names in order, if it is a list of named columns."""
    if not specs or any(spec.get("type") == "tensor" or not spec.get("name") for spec in specs):
        return ()
    return tuple(str(spec["name"]) for spec in specs)


def _tensor_width(specs: tuple[dict[str, Any], ...]) -> int | None:
    """The width of a single ``[-1, width]`` tensor input, which the model then takes."""
    if len(specs) != 1 or specs[0].get("type") != "tensor":
        return None
    shape = (specs[0].get("tensor-spec") or {}).get("shape")
    if isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int) and shape[1] > 0:
        return shape[1]
    return None
