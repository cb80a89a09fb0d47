"""Adapters for PyTorch models: TorchScript, torch.export and (trusted) pickled modules."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from audit.errors import ModelError
from audit.features import METADATA_FILE
from audit.models.base import LoadedModel


class TorchAdapter:
    """Any callable torch module, run without gradients on one device."""

    def __init__(self, module: torch.nn.Module, device: str) -> None:
        self._module = module
        self._device = torch.device(device)

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            inputs = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))
            output = self._module(inputs.to(self._device))
            if isinstance(output, (tuple, list)):
                output = output[0]
            if not isinstance(output, torch.Tensor):
                raise ModelError(
                    f"the model returned {type(output).__name__}, not a tensor; make forward() "
                    "return a tensor of logits or probabilities"
                )
            return output.detach().to("cpu", torch.float64).numpy()


def check_device(device: str) -> str:
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise ModelError(f"--device {device!r} is not a torch device; use cpu or cuda") from exc
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"--device {device!r}: no CUDA device is available here; use cpu")
    return device


def first_layer_width(module: torch.nn.Module) -> int | None:
    """The input width of the first 2-D weight (a Linear layer), if the model starts with one."""
    for name, parameter in module.named_parameters():
        if name.endswith("weight"):
            return int(parameter.shape[1]) if parameter.dim() == 2 else None
    return None


def load_torchscript(path: Path, device: str) -> LoadedModel:
    extra = {METADATA_FILE: ""}
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript in favour of torch.export; the files still load.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except RuntimeError as exc:
            raise ModelError(
                f"{path}: not a loadable TorchScript file ({str(exc).splitlines()[0]}); "
                "save it with torch.jit.save"
            ) from exc
    module.eval()
    metadata: str | bytes = extra[METADATA_FILE]
    return LoadedModel(
        adapter=TorchAdapter(module, device),
        kind="torchscript",
        trusted=False,
        input_width=first_layer_width(module),
        class_labels=None,
        metadata_text=(metadata if isinstance(metadata, str) else metadata.decode("utf-8")) or None,
    )


def load_exported(path: Path, device: str) -> LoadedModel:
    try:
        program = torch.export.load(str(path))
    except Exception as exc:  # torch raises many types for a bad archive
        raise ModelError(
            f"{path}: not a loadable torch.export file ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); save it with torch.export.save"
        ) from exc
    module = program.module()
    module.to(device)
    return LoadedModel(
        adapter=TorchAdapter(module, device),
        kind="torch-export",
        trusted=False,
        input_width=first_layer_width(module),
        class_labels=None,
        metadata_text=None,
    )


def from_pickled_module(module: torch.nn.Module, device: str) -> LoadedModel:
    module.to(device)
    module.eval()
    return LoadedModel(
        adapter=TorchAdapter(module, device),
        kind="torch-pickle",
        trusted=True,
        input_width=first_layer_width(module),
        class_labels=None,
        metadata_text=None,
    )
