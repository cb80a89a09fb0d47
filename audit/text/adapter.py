"""Loading a text model and running it on strings through the common adapter protocol.

``TextAdapter.predict_proba`` takes an array of strings (``[n]`` or ``[n, 1]``), tokenizes
inside and runs the TorchScript module under ``torch.no_grad`` in length-sorted micro-batches
(so that a batch pads to similar lengths), returning the raw output in the input's order.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.torch_models import check_device
from audit.text.model_format import (
    DOCS,
    TEXT_METADATA_FILE,
    VOCAB_FILE,
    TextMetadata,
    parse_text_metadata,
    vocabulary,
)
from audit.text.onnx_text import load_onnx_text
from audit.text.tokenizer import Encoded, Tokenizer

MICRO_BATCH = 512


def _why(exc: Exception) -> str:
    """One line: TorchScript puts the model's own error on the last line of its message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and "TorchScript interpreter" in lines[0]:
        return lines[-1].removeprefix("builtins.")
    return f"{type(exc).__name__}: {lines[0]}"


class TextAdapter:
    """A text model as the audit sees it: strings in, per-class output out."""

    def __init__(
        self,
        module: torch.nn.Module,
        tokenizer: Tokenizer,
        metadata: TextMetadata,
        device: str,
        source: Path,
    ) -> None:
        self.module = module
        self.tokenizer = tokenizer
        self.metadata = metadata
        self.device = torch.device(device)
        self.source = source

    def second_input(self, encoded: Encoded) -> torch.Tensor:
        """Lengths ``[n]`` or a padding mask ``[n, width]`` (True at real tokens)."""
        lengths = torch.from_numpy(encoded.lengths)
        if self.metadata.input == "ids_and_lengths":
            return lengths.to(self.device)
        width = encoded.ids.shape[1]
        return (torch.arange(width)[None, :] < lengths[:, None]).to(self.device)

    def run_encoded(self, encoded: Encoded) -> torch.Tensor:
        ids = torch.from_numpy(encoded.ids).to(self.device)
        try:
            output = self.module(ids, self.second_input(encoded))
        except Exception as exc:  # the model is user code: any failure is reported
            raise ModelError(
                f"{self.source}: the text model failed on a batch of {len(encoded.ids)} texts "
                f"({_why(exc)}); check that forward takes (ids, "
                f"{'lengths' if self.metadata.input == 'ids_and_lengths' else 'mask'}) as "
                f"{TEXT_METADATA_FILE} declares (see {DOCS})"
            ) from exc
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not isinstance(output, torch.Tensor):
            raise ModelError(
                f"{self.source}: the text model returned {type(output).__name__}, not a "
                "tensor; make forward() return logits or probabilities"
            )
        return output

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self.tokenizer.ids(text) for text in texts]
        order = np.argsort([len(row) for row in rows], kind="stable")
        outputs: list[np.ndarray] = []
        # Without TorchScript's profiling optimizer: every batch of texts has another shape,
        # and it would re-profile and re-specialise the graph for each (slower, same numbers).
        with torch.no_grad(), torch.jit.optimized_execution(False):
            for start in range(0, len(rows), MICRO_BATCH):
                chosen = order[start : start + MICRO_BATCH]
                encoded = self.tokenizer.pad([rows[index] for index in chosen])
                output = self.run_encoded(encoded)
                outputs.append(output.detach().to("cpu", torch.float64).numpy())
        if not outputs:
            return np.zeros((0, 1))
        stacked = np.concatenate(outputs)
        restored = np.empty_like(stacked)
        restored[order] = stacked
        return restored

    def predict_proba(self, batch: np.ndarray) -> np.ndarray:
        values = np.asarray(batch, dtype=object).reshape(len(batch), -1)[:, 0]
        return self.predict_texts(["" if value is None else str(value) for value in values])


@dataclass(frozen=True)
class TextModel:
    """A loaded text model: the engine's ``LoadedModel`` and what the text probes need."""

    loaded: LoadedModel
    adapter: TextAdapter
    metadata: TextMetadata
    tokenizer: Tokenizer
    source: Path


def _text(value: str | bytes) -> str:
    return value if isinstance(value, str) else value.decode("utf-8")


def _torchscript(path: Path, device: str) -> tuple[torch.nn.Module, dict[str, str | bytes]]:
    check_device(device)
    extra: dict[str, str | bytes] = {TEXT_METADATA_FILE: "", VOCAB_FILE: ""}
    with warnings.catch_warnings():
        # torch 2.13 deprecates TorchScript in favour of torch.export; the files still load.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            module = torch.jit.load(str(path), map_location=device, _extra_files=extra)
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ModelError(
                f"{path}: not a loadable TorchScript file ({first}); a text model is saved "
                f"with torch.jit.save (see {DOCS})"
            ) from exc
    return module, extra


def load_text_model(path: Path, device: str = "cpu") -> TextModel:
    """A TorchScript archive with ``rai_audit_text.json`` (and maybe the vocabulary file), or
    an ONNX graph with them as metadata props (audit.text.onnx_text)."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found; check the path")
    if path.is_dir():
        raise ModelError(f"{path}: is a directory; name the text model's .pt file")
    onnx = path.suffix.lower() == ".onnx"
    if path.suffix.lower() not in (".pt", ".pth") and not onnx:
        raise ModelError(
            f"{path}: a text model must be a TorchScript .pt archive (or an .onnx graph) with "
            f"{TEXT_METADATA_FILE} (see {DOCS}); got {path.suffix or 'no suffix'!r}"
        )
    notes: tuple[str, ...] = ()
    module: torch.nn.Module
    extra: Mapping[str, str | bytes]
    if onnx:
        module, extra, note = load_onnx_text(path, device)
        notes = (note,)
    else:
        module, extra = _torchscript(path, device)
    module.eval()
    metadata_text = _text(extra[TEXT_METADATA_FILE])
    if not metadata_text:
        raise ModelError(
            f"{path}: has no {TEXT_METADATA_FILE} extra file, so its tokenizer is unknown; "
            f"save the model with it as {DOCS} shows, or drop --text-column for a tabular model"
        )
    metadata = parse_text_metadata(metadata_text, path)
    tokens = vocabulary(metadata, _text(extra[VOCAB_FILE]), path)
    tokenizer = Tokenizer(metadata.tokenizer, tokens)
    adapter = TextAdapter(module, tokenizer, metadata, device, path)
    loaded = LoadedModel(
        adapter=adapter,
        kind="onnx" if onnx else "torchscript",
        trusted=False,
        input_width=None,
        class_labels=tuple(metadata.class_labels) if metadata.class_labels else None,
        metadata_text=None,
        notes=(
            f"text model ({metadata.format}): {len(tokens)} tokens in the vocabulary, at most "
            f"{metadata.tokenizer.max_length} tokens per text, input {metadata.input}",
            *notes,
        ),
    )
    return TextModel(loaded, adapter, metadata, tokenizer, path)
