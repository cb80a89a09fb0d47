"""A Hugging Face sequence classifier saved with ``save_pretrained``, as a text model.

The folder holds ``config.json``, the weights as ``model.safetensors`` and the tokenizer's
files; it loads with ``AutoModelForSequenceClassification`` and ``AutoTokenizer`` from the
folder alone (``local_files_only``: never the hub, never remote code). Weights saved only as
``pytorch_model.bin`` are a pickle: refused unless ``--trust-model``, and then scanned first
like every other pickle. ``config.id2label`` names the classes; the output is logits.
transformers is imported only here, when such a folder is audited (the huggingface extra).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import torch
from torch import nn

from audit.core.errors import ModelError
from audit.models.base import LoadedModel
from audit.models.loading import refuse_pickle
from audit.models.torch_models import check_device
from audit.privacy.model_files import check_pickle_file
from audit.privacy.report import ModelFileScan
from audit.text.model import ScoreFunction, TextModel, TextRunner, failure_line
from audit.text.tokenizer import Encoded, padded

EXTRA_HINT = "pip install 'rai-audit[huggingface]'"
DOCS = "docs/text-models.md"
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")  # one file, or shards
PICKLED_WEIGHTS = "pytorch_model.bin"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")
# The input length when neither the tokenizer nor the config gives one (BERT's).
DEFAULT_MAX_INPUT = 512
# transformers writes "no limit" as a huge model_max_length (int(1e30)).
_NO_LIMIT = 10**9


def _transformers(path: Path) -> ModuleType:
    try:
        import transformers
    except ImportError as exc:
        raise ModelError(
            f"{path}: is a Hugging Face model folder, and reading it needs transformers: "
            f"{EXTRA_HINT}"
        ) from exc
    return transformers


@contextmanager
def _quiet(transformers: ModuleType) -> Iterator[None]:
    """transformers logs and draws progress bars on stderr while it loads; the CLI prints
    only its own lines. Both settings are restored after the load."""
    logging = transformers.utils.logging
    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()


@dataclass(frozen=True)
class HuggingFaceLimits:
    lowercase: bool
    pad: str
    max_length: int  # the text's own tokens, special tokens not counted


class HuggingFaceTokenizer:
    """The folder's tokenizer through the text stage's ``TextTokenizer`` protocol.

    A row of ids is the tokenizer's whole input, special tokens included; ``tokens`` are the
    text's own (word pieces), which is what identity terms and attributions are matched on.
    """

    def __init__(self, tokenizer: Any, max_input: int, source: Path) -> None:
        if tokenizer.pad_token_id is None:
            raise ModelError(
                f"{source}: the tokenizer has no pad token, so texts cannot be batched; set "
                "tokenizer.pad_token (e.g. to its eos token) before save_pretrained"
            )
        self._tokenizer = tokenizer
        # Where the tokenizer puts its special tokens around one text ([CLS] x [SEP]: 1, 1).
        mask = tokenizer("x", return_special_tokens_mask=True)["special_tokens_mask"]
        self.prefix = mask.index(0)
        self.suffix = mask[::-1].index(0)
        self.max_input = max_input
        self.spec = HuggingFaceLimits(
            lowercase=bool(getattr(tokenizer, "do_lower_case", False)),
            pad=tokenizer.pad_token,
            max_length=max_input - self.prefix - self.suffix,
        )
        index: dict[str, int] = tokenizer.get_vocab()
        self.vocab = tuple(sorted(index, key=index.__getitem__))
        self._index = index
        self.pad_id = int(tokenizer.pad_token_id)
        self._unk = tokenizer.unk_token

    def ids(self, text: str) -> list[int]:
        ids: list[int] = self._tokenizer(text, truncation=True, max_length=self.max_input)[
            "input_ids"
        ]
        return ids

    def tokens(self, text: str) -> list[str]:
        ids = self.ids(text)
        tokens: list[str] = self._tokenizer.convert_ids_to_tokens(
            ids[self.prefix : len(ids) - self.suffix]
        )
        return tokens

    def count(self, text: str) -> int:
        # verbose=False: the length is what is asked, not a warning that it is too long.
        encoded = self._tokenizer(text, add_special_tokens=False, verbose=False)
        return len(encoded["input_ids"])

    def known(self, token: str) -> bool:
        return token in self._index and token != self._unk

    def pad(self, rows: Sequence[Sequence[int]]) -> Encoded:
        return padded(rows, self.pad_id, self.prefix, self.suffix)


@dataclass(frozen=True)
class HuggingFaceDescription:
    format: str  # "huggingface/<model_type>"
    class_labels: tuple[str, ...]  # config.id2label in id order
    input: str = "ids_and_mask"
    positive_label: str | None = None
    adverse_label: str | None = None
    output_kind: Literal["logits", "probabilities"] | None = "logits"


class ClassifierScore(nn.Module):
    """(ids, mask) -> positive-class score of the model itself; Captum hooks its input
    embeddings (an eager model runs hooks, so no copy is needed)."""

    def __init__(self, model: nn.Module, score: ScoreFunction) -> None:
        super().__init__()
        self.model = model
        self.embedding = model.get_input_embeddings()  # type: ignore[operator]
        self.score = score

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.score(self.model(input_ids=ids, attention_mask=mask).logits)


class HuggingFaceAdapter(TextRunner):
    def __init__(
        self, model: nn.Module, tokenizer: HuggingFaceTokenizer, device: str, source: Path
    ) -> None:
        self.module = model
        self.tokenizer = tokenizer
        self.device = torch.device(device)
        self.source = source

    def second_input(self, encoded: Encoded) -> torch.Tensor:
        """The attention mask ``[n, width]``: 1 at real tokens, special tokens included."""
        lengths = torch.from_numpy(encoded.lengths)
        width = encoded.ids.shape[1]
        mask = torch.arange(width)[None, :] < lengths[:, None]
        return mask.to(torch.int64).to(self.device)

    def forward_ids(self, ids: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.module(input_ids=ids, attention_mask=second).logits
        return logits

    def run_encoded(self, encoded: Encoded) -> torch.Tensor:
        ids = torch.from_numpy(encoded.ids).to(self.device)
        try:
            return self.forward_ids(ids, self.second_input(encoded))
        except Exception as exc:  # the model's code is its library's and its config's
            raise ModelError(
                f"{self.source}: the Hugging Face model failed on a batch of {len(ids)} texts "
                f"({failure_line(exc)}); check that the folder's config and weights belong "
                "together"
            ) from exc

    def gradient_route(self, score: ScoreFunction) -> ClassifierScore | str:
        embedding = self.module.get_input_embeddings()  # type: ignore[operator]
        if not isinstance(embedding, nn.Module):
            return "the model's get_input_embeddings() returns no layer to attribute through"
        return ClassifierScore(self.module, score)


def _max_input(tokenizer: Any, config: Any) -> int:
    """The longest input the model reads: the tokenizer's limit and the position table's."""
    limits = [
        value
        for value in (
            getattr(tokenizer, "model_max_length", None),
            getattr(config, "max_position_embeddings", None),
        )
        if isinstance(value, int) and 0 < value < _NO_LIMIT
    ]
    return min(limits) if limits else DEFAULT_MAX_INPUT


def _class_labels(config: Any, path: Path) -> tuple[str, ...]:
    id2label = {int(key): str(value) for key, value in (config.id2label or {}).items()}
    if sorted(id2label) != list(range(len(id2label))) or not id2label:
        raise ModelError(
            f"{path}: config.json's id2label must name every class id from 0 up, got "
            f"{sorted(id2label)}; set id2label in the model's config before save_pretrained"
        )
    return tuple(id2label[index] for index in range(len(id2label)))


def _weights(path: Path, trust: bool, allow: Sequence[str]) -> ModelFileScan | None:
    """Which weights load: safetensors, else the pickle (only with ``trust``, scanned)."""
    if any((path / name).is_file() for name in SAFE_WEIGHTS):
        return None
    pickled = path / PICKLED_WEIGHTS
    if not pickled.is_file():
        raise ModelError(
            f"{path}: has no {SAFE_WEIGHTS[0]}; save the model into the folder with "
            "model.save_pretrained(folder)"
        )
    if not trust:
        raise refuse_pickle(pickled)
    scan, _ = check_pickle_file(pickled, "torch-pickle", allow)
    return scan


def load_huggingface_model(
    path: Path, device: str, trust: bool, allow_unsafe_imports: Sequence[str]
) -> TextModel:
    """The folder's model and tokenizer, from its files alone."""
    check_device(device)
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ModelError(
            f"{path}: has no tokenizer ({' or '.join(TOKENIZER_FILES)}); save it into the "
            "folder with tokenizer.save_pretrained(folder)"
        )
    scan = _weights(path, trust, allow_unsafe_imports)
    transformers = _transformers(path)
    with _quiet(transformers):
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(
                path, local_files_only=True, trust_remote_code=False
            )
            model, info = transformers.AutoModelForSequenceClassification.from_pretrained(
                path,
                local_files_only=True,
                trust_remote_code=False,
                use_safetensors=scan is None,
                output_loading_info=True,
            )
        except Exception as exc:  # a folder's files can be broken in any way
            raise ModelError(
                f"{path}: transformers cannot load it as a sequence classifier "
                f"({failure_line(exc)}); save the model and its tokenizer with save_pretrained "
                f"(see {DOCS})"
            ) from exc
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        # transformers would fill them with random numbers: the audit would audit noise.
        raise ModelError(
            f"{path}: the weights lack {len(missing)} of the model's tensors ({missing[0]}...), "
            "so it is not a trained sequence classifier; save the fine-tuned model"
        )
    model.to(device).eval()
    config = model.config
    labels = _class_labels(config, path)
    text_tokenizer = HuggingFaceTokenizer(tokenizer, _max_input(tokenizer, config), path)
    adapter = HuggingFaceAdapter(model, text_tokenizer, device, path)
    description = HuggingFaceDescription(
        format=f"huggingface/{config.model_type}", class_labels=labels
    )
    loaded = LoadedModel(
        adapter=adapter,
        kind="huggingface",
        trusted=scan is not None,
        input_width=None,
        class_labels=labels,
        metadata_text=None,
        notes=(
            f"text model ({description.format}): {len(text_tokenizer.vocab)} tokens in the "
            f"vocabulary, at most {text_tokenizer.spec.max_length} tokens per text, classes "
            f"{', '.join(labels)} (config.id2label)",
        ),
        extra={"file_scan": scan} if scan is not None else {},
        runtime=("transformers", "tokenizers", "safetensors"),
    )
    return TextModel(loaded, adapter, description, text_tokenizer, path)
