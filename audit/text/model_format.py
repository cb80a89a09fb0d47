"""The ``rai_audit_text.json`` extra file that makes a TorchScript archive a text model.

The archive's ``forward`` takes token ids and either lengths or a padding mask; the extra file
says how text becomes those ids (tokenizer and vocabulary) and how to read the output. The
format is documented in docs/text-models.md; ``rai-audit/text-v1`` is its first version.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from audit.core.errors import ModelError

TEXT_METADATA_FILE = "rai_audit_text.json"
VOCAB_FILE = "rai_audit_vocab.txt"
TEXT_FORMAT = "rai-audit/text-v1"
DOCS = "docs/text-models.md"


class TokenizerSpec(BaseModel):
    """Text -> tokens: optionally lower-case, then every match of ``pattern`` is a token."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lowercase: bool = True
    pattern: str
    pad: str
    unk: str
    max_length: int = Field(ge=1)

    @model_validator(mode="after")
    def _compiles(self) -> TokenizerSpec:
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(
                f"tokenizer pattern is not a Python regular expression: {exc}"
            ) from exc
        if compiled.match(""):
            raise ValueError("tokenizer pattern matches the empty string; it must match tokens")
        if self.pad == self.unk:
            raise ValueError("tokenizer pad and unk must be different tokens")
        return self


class TextMetadata(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: str
    tokenizer: TokenizerSpec
    # The vocabulary: token i has id i. Inline, or one token a line in the extra file
    # rai_audit_vocab.txt (the only name accepted, so the file can be asked for at load).
    vocab: list[str] | None = None
    vocab_file: Literal["rai_audit_vocab.txt"] | None = None
    input: Literal["ids_and_lengths", "ids_and_mask"]
    class_labels: list[str] | None = None
    positive_label: str | None = None
    # The class that harms the person a text speaks of: "negative" for sentiment, "toxic" for
    # toxicity. Default: the class that is not the positive label.
    adverse_label: str | None = None
    output_kind: Literal["logits", "probabilities"] | None = None
    # The nn.Embedding submodule; attributions need it and an exported forward_embedded.
    embedding: str = "embedding"

    @model_validator(mode="after")
    def _consistent(self) -> TextMetadata:
        if self.format != TEXT_FORMAT:
            raise ValueError(f"format is {self.format!r}; this rai-audit reads {TEXT_FORMAT!r}")
        if (self.vocab is None) == (self.vocab_file is None):
            raise ValueError(f"give the vocabulary either inline (vocab) or as {VOCAB_FILE}")
        labels = self.class_labels
        for name in ("positive_label", "adverse_label"):
            value = getattr(self, name)
            if value is not None and labels is not None and value not in labels:
                raise ValueError(f"{name} {value!r} is not one of class_labels {labels}")
        return self


def parse_text_metadata(text: str, source: Path) -> TextMetadata:
    try:
        return TextMetadata.model_validate_json(text)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(map(str, error["loc"]))
        message = error["msg"].removeprefix("Value error, ")
        place = f" at {where!r}" if where else ""
        raise ModelError(
            f"{source}: embedded {TEXT_METADATA_FILE} is invalid{place} ({message}); see {DOCS}"
        ) from exc


def vocabulary(metadata: TextMetadata, vocab_text: str, source: Path) -> list[str]:
    """The token list, from the metadata or the vocabulary extra file; checked for use."""
    if metadata.vocab is not None:
        tokens = list(metadata.vocab)
    else:
        if not vocab_text:
            raise ModelError(
                f"{source}: {TEXT_METADATA_FILE} names vocab_file {VOCAB_FILE!r} but the archive "
                f"has no such extra file; save it with _extra_files (see {DOCS})"
            )
        tokens = vocab_text.split("\n")
        if tokens and tokens[-1] == "":
            tokens.pop()  # the file's final newline
    seen: set[str] = set()
    for token in tokens:
        if token in seen:
            raise ModelError(
                f"{source}: the vocabulary lists {token!r} twice; each token needs one id"
            )
        seen.add(token)
    for role in ("pad", "unk"):
        token = getattr(metadata.tokenizer, role)
        if token not in seen:
            raise ModelError(
                f"{source}: the tokenizer's {role} token {token!r} is not in the vocabulary"
            )
    return tokens
