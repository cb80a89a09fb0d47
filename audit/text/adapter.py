"""Loading a text model and running it on strings through the common adapter protocol.

``TextAdapter.predict_proba`` takes an array of strings (``[n]`` or ``[n, 1]``), tokenizes
inside and runs the TorchScript module under ``torch.no_grad`` in length-sorted micro-batches
(so that a batch pads to similar lengths), returning the raw output in the input's order.
A folder saved with Hugging Face's ``save_pretrained`` loads through ``audit.text.huggingface``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.file_kinds import HF_CONFIG_FILE
from audit.models.onnx_models import ONNX_RUNTIME
from audit.models.torch_models import check_device
from audit.text.model import ScoreFunction, TextModel, TextRunner, failure_line
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

# A folder with this file is a model saved with Hugging Face's save_pretrained.


class EmbeddingForward(nn.Module):
    """An eager copy of the archive's embedding feeding its scripted ``forward_embedded``.

    TorchScript runs no Python hooks, so Captum cannot hook the archive's own embedding."""

    def __init__(self, module: torch.nn.Module, weight: torch.Tensor, score: ScoreFunction) -> None:
        super().__init__()
        self.embedding = nn.Embedding.from_pretrained(weight.detach().clone(), freeze=True)
        self.module = module
        self.score = score

    def forward(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        # A TorchScript method, which mypy cannot see on a typed nn.Module.
        output = self.module.forward_embedded(self.embedding(ids), second)  # type: ignore[operator]
        if isinstance(output, (tuple, list)):
            output = output[0]
        return self.score(output)


class TextAdapter(TextRunner):
    """A TorchScript text model as the audit sees it: strings in, per-class output out."""

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

    def forward_ids(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        output: torch.Tensor = self.module(ids, second)
        return output

    def gradient_route(self, score: ScoreFunction) -> EmbeddingForward | str:
        """The eager-embedding route, or why it is not available."""
        module = self.module
        name = self.metadata.embedding
        if not hasattr(module, "forward_embedded"):
            return (
                "the model exports no forward_embedded(embedded, lengths) method, and TorchScript "
                "runs no hooks on its embedding layer"
            )
        embedding = getattr(module, name, None)
        weight = getattr(embedding, "weight", None)
        if not isinstance(weight, torch.Tensor) or weight.dim() != 2:
            return f"the model has no embedding submodule {name!r} with a 2-D weight"
        if weight.shape[0] != len(self.tokenizer.vocab):
            return (
                f"the embedding {name!r} has {weight.shape[0]} rows but the vocabulary "
                f"{len(self.tokenizer.vocab)} tokens"
            )
        return EmbeddingForward(module, weight, score)

    def run_encoded(self, encoded: Encoded) -> torch.Tensor:
        ids = torch.from_numpy(encoded.ids).to(self.device)
        try:
            output = self.module(ids, self.second_input(encoded))
        except Exception as exc:  # the model is user code: any failure is reported
            raise ModelError(
                f"{self.source}: the text model failed on a batch of {len(encoded.ids)} texts "
                f"({failure_line(exc)}); check that forward takes (ids, "
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


def load_text_model(
    path: Path, device: str = "cpu", trust: bool = False, allow_unsafe_imports: Sequence[str] = ()
) -> TextModel:
    """A TorchScript archive with ``rai_audit_text.json`` (and maybe the vocabulary file), an
    ONNX graph with them as metadata props (audit.text.onnx_text), or a Hugging Face folder
    (``config.json``, weights, tokenizer); ``trust`` and ``allow_unsafe_imports`` only matter
    for a folder whose weights are a pickle."""
    if not path.exists():
        raise ModelError(f"{path}: model file not found; check the path")
    if path.is_dir():
        if (path / HF_CONFIG_FILE).is_file():
            from audit.text.huggingface import load_huggingface_model

            return load_huggingface_model(path, device, trust, allow_unsafe_imports)
        raise ModelError(
            f"{path}: is a directory without {HF_CONFIG_FILE}; name the text model's .pt or "
            ".onnx file, or a folder saved with Hugging Face's save_pretrained"
        )
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
        runtime=ONNX_RUNTIME if onnx else (),
    )
    return TextModel(loaded, adapter, metadata, tokenizer, path)
