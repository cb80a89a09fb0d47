"""Pick the adapter for a model file, refusing unsafe formats unless the user trusts them."""

from __future__ import annotations

import dataclasses
import zipfile
from collections.abc import Sequence
from pathlib import Path

import torch

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.file_kinds import HF_CONFIG_FILE, unsupported_model
from audit.models.mlflow_models import MLMODEL_FILE, is_mlflow_model, load_mlflow_model
from audit.models.onnx_models import load_onnx
from audit.models.sklearn_models import from_estimator, load_skops_object
from audit.models.torch_files import state_dict_error, unpickling_error
from audit.models.torch_models import (
    check_device,
    from_pickled_module,
    load_exported,
    load_torchscript,
)
from audit.privacy.model_files import (
    check_pickle_file,
    load_joblib,
    load_pickle,
    torch_load_options,
)
from audit.privacy.report import ModelFileScan

_PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")


def _is_torchscript(path: Path) -> bool:
    # A TorchScript archive carries its code as TorchScript source under code/; a
    # torch.save archive only has data.pkl.
    try:
        with zipfile.ZipFile(path) as archive:
            return any("/code/" in name for name in archive.namelist())
    except zipfile.BadZipFile:
        return False


def refuse_pickle(path: Path) -> ModelError:
    return ModelError(
        f"{path}: is a pickle, and loading a pickle runs arbitrary code from the file; "
        "save the model as TorchScript, torch.export (.pt2) or skops instead, or pass "
        "--trust-model if you trust its author (the report records that choice)"
    )


def load_model(
    path: Path,
    device: str = "cpu",
    trust: bool = False,
    allow_unsafe_imports: Sequence[str] = (),
) -> LoadedModel:
    """Load ``path`` with the adapter its format needs.

    A pickle (only with ``trust``) is scanned first and guarded while it loads: a dangerous
    import refuses it unless ``allow_unsafe_imports`` names it (audit.privacy.model_files).
    An MLflow model directory is read through its ``MLmodel`` file, its model file loaded
    here like any other (audit.models.mlflow_models).
    """
    if not path.exists():
        raise ModelError(f"{path}: model file not found; check the path")
    if path.name == MLMODEL_FILE and path.is_file():
        raise ModelError(
            f"{path}: is the MLmodel file of an MLflow model; name its directory, {path.parent}"
        )
    if is_mlflow_model(path):
        return load_mlflow_model(
            path, lambda file: load_model(file, device, trust, allow_unsafe_imports)
        )
    if path.is_dir():
        if (path / HF_CONFIG_FILE).is_file():
            raise ModelError(
                f"{path}: is a Hugging Face model folder, which rai-audit audits as a text "
                "classifier; name the column of texts with --text-column COL (docs/text-models.md)"
            )
        raise unsupported_model(path)
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth"):
        check_device(device)
        if _is_torchscript(path):
            return load_torchscript(path, device)
        # A state_dict is weights only: no flag runs it, so it is told how to export.
        refused = state_dict_error(path)
        if refused is not None:
            raise refused
        if not trust:
            raise refuse_pickle(path)
        return _load_torch_pickle(path, device, allow_unsafe_imports)
    if suffix == ".pt2":
        check_device(device)
        return load_exported(path, device)
    if suffix == ".onnx":
        return load_onnx(path, device)
    if suffix == ".skops":
        estimator, untrusted = load_skops_object(path, trust)
        notes = (f"accepted untrusted skops types: {', '.join(untrusted)}",) if untrusted else ()
        return from_estimator(estimator, "skops", trusted=bool(untrusted), notes=notes)
    if suffix in _PICKLE_SUFFIXES:
        if not trust:
            raise refuse_pickle(path)
        return _load_pickle(path, device, allow_unsafe_imports)
    raise unsupported_model(path)


def _with_scan(model: LoadedModel, scan: ModelFileScan) -> LoadedModel:
    return dataclasses.replace(model, extra={**model.extra, "file_scan": scan})


def _load_torch_pickle(path: Path, device: str, allow: Sequence[str]) -> LoadedModel:
    scan, guard = check_pickle_file(path, "torch-pickle", allow)
    try:
        loaded = torch.load(
            path, map_location=device, weights_only=False, **torch_load_options(guard)
        )
    except ModelError:
        raise
    except Exception as exc:  # unpickling user files can raise anything
        raise unpickling_error(path, exc) from exc
    if isinstance(loaded, torch.nn.Module):
        return _with_scan(from_pickled_module(loaded, device), guard.record(scan))
    raise ModelError(
        f"{path}: holds a {type(loaded).__name__}, not an nn.Module (a state_dict needs its "
        "model class); save the whole model with torch.jit.save or torch.export"
    )


def _load_pickle(path: Path, device: str, allow: Sequence[str]) -> LoadedModel:
    joblib_file = path.suffix.lower() == ".joblib"
    scan, guard = check_pickle_file(path, "joblib" if joblib_file else "pickle", allow)
    try:
        # The user passed --trust-model; the guard still refuses dangerous imports.
        loaded = load_joblib(path, guard) if joblib_file else load_pickle(path, guard)
    except ImportError as exc:
        raise ModelError(f"{path}: loading .joblib files needs joblib; pip install joblib") from exc
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{path}: unpickling failed ({type(exc).__name__}: {exc})") from exc
    scan = guard.record(scan)
    if isinstance(loaded, torch.nn.Module):
        return _with_scan(from_pickled_module(loaded, device), scan)
    return _with_scan(from_estimator(loaded, "pickle", trusted=True), scan)
