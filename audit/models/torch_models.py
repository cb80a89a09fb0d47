"""Adapters for PyTorch models: TorchScript, torch.export and (trusted) pickled modules."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import torch

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.features import METADATA_FILE


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


class _Captured(logging.Handler):
    """Keeps what a library logs instead of letting it reach the console."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def cause(self) -> str | None:
        """The first line of the last exception a record carried, if any."""
        for record in reversed(self.records):
            if record.exc_info and record.exc_info[1] is not None:
                error = record.exc_info[1]
                # torch's first sentence says what failed; the rest is generic advice.
                first = str(error).splitlines()[0].split(". ")[0] if str(error) else ""
                return f"{type(error).__name__}: {first}"
        return None


def load_exported(path: Path, device: str) -> LoadedModel:
    # torch.export logs a bad archive's traceback as a warning, then raises a vaguer error
    # ("check the warnings above"); the traceback is kept here and its cause put in the message.
    logger = logging.getLogger("torch.export")
    captured = _Captured()
    # torch attaches its own console handler to this logger: it is set aside, not added to.
    handlers, logger.handlers = logger.handlers, [captured]
    propagate, logger.propagate = logger.propagate, False
    extra = {METADATA_FILE: ""}
    try:
        program = torch.export.load(str(path), extra_files=extra)
    except Exception as exc:  # torch raises many types for a bad archive
        cause = captured.cause() or (
            f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        )
        raise ModelError(
            f"{path}: not a loadable torch.export file ({cause}); save it with torch.export.save"
        ) from exc
    finally:
        logger.handlers = handlers
        logger.propagate = propagate
    module = program.module()
    module.to(device)
    metadata: str | bytes = extra[METADATA_FILE]
    return LoadedModel(
        adapter=TorchAdapter(module, device),
        kind="torch-export",
        trusted=False,
        input_width=first_layer_width(module),
        class_labels=None,
        metadata_text=(metadata if isinstance(metadata, str) else metadata.decode("utf-8")) or None,
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
