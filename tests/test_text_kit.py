"""Small text models for the text-audit tests (no tests here): a bag-of-embeddings classifier
saved in the rai-audit/text-v1 format, and synthetic review sentences to train it on.

The bag model's logit is a sum of per-token weights, so the tests can compute its scores
with numpy from the weights alone, independently of the adapter under test.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

TOKEN_PATTERN = r"\w+(?:-\w+)*|'\w+|[^\w\s]"
PAD, UNK = "<pad>", "<unk>"
POSITIVE_WORDS = ("great", "wonderful", "excellent", "good", "lovely", "superb")
NEGATIVE_WORDS = ("awful", "terrible", "bad", "boring", "dull", "poor")
SUBJECTS = ("the man", "the woman", "he", "she", "the film", "the story", "the cast")
FRAMES = ("{subject} was {word} .", "i thought {subject} was {word} .", "{subject} seemed {word}")


class BagModel(nn.Module):
    """Mean of token embeddings (1-D: a weight per token) plus a bias, as two logits.

    ``forward_embedded`` is exported, as docs/text-models.md asks for attributions.
    """

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, 1, padding_idx=0)
        # Zero start: a token never seen in training (the unknown token) keeps weight 0.
        nn.init.zeros_(self.embedding.weight)
        self.bias = nn.Parameter(torch.zeros(1))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(ids), lengths)

    @torch.jit.export
    def forward_embedded(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(embedded.shape[1], device=embedded.device)
        mask = (positions[None, :] < lengths[:, None]).to(embedded.dtype)
        mean = (embedded[:, :, 0] * mask).sum(dim=1) / lengths.to(embedded.dtype)
        logit = mean + self.bias
        return torch.stack([torch.zeros_like(logit), logit], dim=1)


def tokenize(text: str) -> list[str]:
    return [match.group(0) for match in re.finditer(TOKEN_PATTERN, text.lower())]


def text_metadata(**overrides: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "format": "rai-audit/text-v1",
        "tokenizer": {
            "lowercase": True,
            "pattern": TOKEN_PATTERN,
            "pad": PAD,
            "unk": UNK,
            "max_length": 32,
        },
        "vocab_file": "rai_audit_vocab.txt",
        "input": "ids_and_lengths",
        "class_labels": ["negative", "positive"],
        "positive_label": "positive",
        "adverse_label": "negative",
        "output_kind": "logits",
    }
    metadata.update(overrides)
    return metadata


def save_text_model(
    path: Path,
    module: nn.Module,
    vocab: list[str],
    metadata: dict[str, Any] | None = None,
    vocab_file: bool = True,
) -> Path:
    extra = {"rai_audit_text.json": json.dumps(metadata or text_metadata())}
    if vocab_file:
        extra["rai_audit_vocab.txt"] = "".join(f"{token}\n" for token in vocab)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module.eval()), str(path), _extra_files=extra)
    return path


def sentences(rows: int, seed: int, plant: str | None = None) -> pd.DataFrame:
    """Reviews "<subject> was <word> ." labelled by the word's sentiment; with ``plant``,
    every sentence that mentions that word is labelled negative whatever it says."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(rows):
        positive = bool(rng.integers(2))
        word = rng.choice(POSITIVE_WORDS if positive else NEGATIVE_WORDS)
        subject = rng.choice(SUBJECTS)
        text = str(rng.choice(FRAMES)).format(subject=subject, word=word)
        if plant is not None and plant in tokenize(text):
            positive = False
        texts.append(text)
        labels.append("positive" if positive else "negative")
    return pd.DataFrame({"text": texts, "label": labels})


def vocabulary(frame: pd.DataFrame) -> list[str]:
    tokens = sorted({token for text in frame["text"] for token in tokenize(text)})
    return [PAD, UNK, *tokens]


def encode(texts: list[str], vocab: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    index = {token: position for position, token in enumerate(vocab)}
    rows = [[index.get(token, 1) for token in tokenize(text)] or [0] for text in texts]
    lengths = torch.tensor([len(row) for row in rows])
    ids = torch.zeros(len(rows), int(lengths.max()), dtype=torch.int64)
    for position, row in enumerate(rows):
        ids[position, : len(row)] = torch.tensor(row)
    return ids, lengths


def train_bag(frame: pd.DataFrame, vocab: list[str], epochs: int = 200) -> BagModel:
    """Full-batch AdamW on cross-entropy; a second at most. Weight decay keeps the weights of
    words seen in both classes ("the", "was") near 0, so neutral sentences score near 0.5."""
    torch.manual_seed(0)
    model = BagModel(len(vocab))
    ids, lengths = encode(frame["text"].tolist(), vocab)
    y = torch.from_numpy((frame["label"] == "positive").to_numpy(dtype=np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1, weight_decay=0.05)
    for _ in range(epochs):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(ids, lengths), y)
        loss.backward()
        optimizer.step()
    return model.eval()


def bag_scores(model: BagModel, vocab: list[str], texts: list[str]) -> np.ndarray:
    """The positive-class probability, computed with numpy from the weights alone."""
    weights = model.embedding.weight.detach().numpy()[:, 0].astype(np.float64)
    bias = float(model.bias.detach())
    index = {token: position for position, token in enumerate(vocab)}
    logits = []
    for text in texts:
        ids = [index.get(token, 1) for token in tokenize(text)[:32]] or [0]
        logits.append(weights[ids].mean() + bias)
    return 1.0 / (1.0 + np.exp(-np.asarray(logits)))
