"""What the text stage needs of a text model, whatever its format.

A TorchScript archive with ``rai_audit_text.json`` (``adapter``) and a Hugging Face folder
saved with ``save_pretrained`` (``huggingface``) both load into a ``TextModel``: a tokenizer
and a description that satisfy the protocols below, and a ``TextRunner`` that scores strings
in length-sorted micro-batches and says how its token attributions are computed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from audit.models.base import LoadedModel
from audit.text.tokenizer import Encoded

MICRO_BATCH = 512

# Raw model output -> positive-class probability (audit.models.positive_score.PositiveScore).
ScoreFunction = Callable[[torch.Tensor], torch.Tensor]


def failure_line(exc: Exception) -> str:
    """One line: TorchScript puts the model's own error on the last line of its message."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    if len(lines) > 1 and "TorchScript interpreter" in lines[0]:
        return lines[-1].removeprefix("builtins.")
    return f"{type(exc).__name__}: {lines[0]}"


class TokenizerLimits(Protocol):
    @property
    def lowercase(self) -> bool: ...
    @property
    def pad(self) -> str: ...  # the pad token, shown for a text without tokens
    @property
    def max_length(self) -> int: ...  # the most tokens of a text the model reads


class TextTokenizer(Protocol):
    """Text to the model's token ids. ``tokens`` are the text's own tokens (no special tokens
    such as ``[CLS]``), in order; ``ids`` is one model input row, which ``pad`` batches."""

    @property
    def spec(self) -> TokenizerLimits: ...
    @property
    def vocab(self) -> Sequence[str]: ...
    @property
    def pad_id(self) -> int: ...
    def tokens(self, text: str) -> list[str]: ...
    def count(self, text: str) -> int: ...  # tokens before the cut to max_length
    def ids(self, text: str) -> list[int]: ...
    def known(self, token: str) -> bool: ...
    def pad(self, rows: Sequence[Sequence[int]]) -> Encoded: ...


class TextDescription(Protocol):
    """What the model says about itself: its format, input and classes."""

    @property
    def format(self) -> str: ...
    @property
    def input(self) -> str: ...  # "ids_and_lengths" or "ids_and_mask"
    @property
    def class_labels(self) -> Sequence[str] | None: ...
    @property
    def positive_label(self) -> str | None: ...
    @property
    def adverse_label(self) -> str | None: ...
    @property
    def output_kind(self) -> Literal["logits", "probabilities"] | None: ...


class GradientRoute(Protocol):
    """(ids, lengths or mask) -> positive-class score, through an eager ``embedding`` layer
    that Captum's Layer Integrated Gradients hooks."""

    @property
    def embedding(self) -> torch.nn.Module: ...
    def __call__(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor: ...


class TextRunner(ABC):
    """Strings in, per-class output out (the adapter protocol's ``predict_proba``).

    A subclass gives the tokenizer, the device, and how a padded batch runs."""

    tokenizer: TextTokenizer
    device: torch.device

    @abstractmethod
    def second_input(self, encoded: Encoded) -> torch.Tensor:
        """The model's second input for a batch: lengths or a padding mask."""

    @abstractmethod
    def forward_ids(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        """The raw output for ids and their second input, without error handling."""

    @abstractmethod
    def run_encoded(self, encoded: Encoded) -> torch.Tensor:
        """The raw output of a padded batch; a failure is one ``ModelError``."""

    @abstractmethod
    def gradient_route(self, score: ScoreFunction) -> GradientRoute | str:
        """The route for gradient attributions, or why there is none."""

    def predict_texts(self, texts: Sequence[str]) -> np.ndarray:
        rows = [self.tokenizer.ids(text) for text in texts]
        order = np.argsort([len(row) for row in rows], kind="stable")
        outputs: list[np.ndarray] = []
        # Without TorchScript's profiling optimizer: every batch of texts has another shape,
        # and it would re-profile and re-specialise the graph for each (slower, same numbers).
        # An eager model ignores it.
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
    adapter: TextRunner
    metadata: TextDescription
    tokenizer: TextTokenizer
    source: Path
