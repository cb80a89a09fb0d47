"""Messages for torch files the audit cannot run as they are: a saved ``state_dict`` (weights
without the code of the model), and a pickled module whose class is not importable here."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from audit.core.errors import ModelError

EXPORT_HINT = (
    "export the model with its feature metadata: audit.export.torchscript(model, frame, "
    "features=..., path=...) (docs/model-formats.md)"
)
# What pickle says when the class a file names is missing, e.g. "Can't get attribute 'MLP' on
# <module '__main__' ...>".
_MISSING_CLASS = re.compile(r"Can't get attribute '([^']+)' on <module '([^']+)'")


def state_dict_error(path: Path) -> ModelError | None:
    """The error for a file that holds only weights, or None if it holds something else.

    ``weights_only`` loading runs no code from the file (torch's restricted unpickler), so the
    file can be looked into without --trust-model, which could not help here anyway.
    """
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a whole pickled module, or not a torch file: not a state_dict
        return None
    if (
        isinstance(loaded, dict)
        and loaded
        and all(isinstance(value, torch.Tensor) for value in loaded.values())
    ):
        return ModelError(
            f"{path}: holds a state_dict (weights without the model's code), which no flag can "
            f"run; {EXPORT_HINT}"
        )
    return None


def unpickling_error(path: Path, exc: Exception) -> ModelError:
    """One line for a failed ``torch.load`` of a trusted pickle, naming a missing class."""
    found = _MISSING_CLASS.search(str(exc))
    if isinstance(exc, AttributeError) and found:
        name, module = found.groups()
        return ModelError(
            f"{path}: class {name} from module {module} is not importable here: import it "
            f"before the audit (e.g. from the module that defines it), or {EXPORT_HINT}"
        )
    if isinstance(exc, ModuleNotFoundError):
        return ModelError(
            f"{path}: module {exc.name} that the model's class comes from is not importable "
            f"here: install it, or {EXPORT_HINT}"
        )
    return ModelError(f"{path}: torch.load failed ({type(exc).__name__}: {exc})")
