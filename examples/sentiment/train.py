"""Train the bundled sentiment example model for rai-audit's text audit.

Reads the sentence polarity dataset v1.0 (Pang & Lee 2005) from ``data/`` (5,331 positive
and 5,331 negative movie-review snippets, cp1252-encoded), trains an embedding + bidirectional
LSTM classifier and writes, next to this script:

- ``model.pt``: a TorchScript archive in the ``rai-audit/text-v1`` format
  (docs/text-models.md): the extra file ``rai_audit_text.json`` holds the tokenizer and the
  output's meaning, ``rai_audit_vocab.txt`` the vocabulary (one token a line, id = line);
- ``test.csv.gz``: the held-out test split, columns ``text`` and ``label``
  (``positive``/``negative``), UTF-8;
- ``metrics.json``: the test accuracy and the training settings.

The split is stratified and seeded: 70% train, 10% validation (to pick the epoch), 20% test.
The run is deterministic: the same seed, epochs and thread count give the same model.

    python examples/sentiment/train.py [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import copy
import gzip
import io
import json
import re
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"

CLASS_LABELS = ["negative", "positive"]  # output column i of the model is CLASS_LABELS[i]
POSITIVE_LABEL = "positive"
ADVERSE_LABEL = "negative"  # a review judged negative is the outcome that harms its subject
# Words (with inner hyphens), clitics such as 's and n't's t, or one punctuation character.
TOKEN_PATTERN = r"\w+(?:-\w+)*|'\w+|[^\w\s]"
PAD, UNK = "<pad>", "<unk>"
MAX_LENGTH = 64  # the longest snippet has 59 words; a few more tokens with clitics

_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


def read_sentences(path: Path) -> list[str]:
    """One snippet a line; the files are cp1252 (their README says Latin-1/cp1252)."""
    with gzip.open(path, "rb") as handle:
        text = handle.read().decode("cp1252")
    return [line.strip() for line in text.split("\n") if line.strip()]


def split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Stratified by label: 70% train, 10% validation, 20% test, in a seeded order."""
    rng = np.random.default_rng(seed)
    parts: dict[str, list[pd.DataFrame]] = {"train": [], "validation": [], "test": []}
    for label in CLASS_LABELS:
        rows = frame[frame["label"] == label]
        order = rng.permutation(len(rows))
        n_test, n_validation = round(0.2 * len(rows)), round(0.1 * len(rows))
        parts["test"].append(rows.iloc[order[:n_test]])
        parts["validation"].append(rows.iloc[order[n_test : n_test + n_validation]])
        parts["train"].append(rows.iloc[order[n_test + n_validation :]])
    shuffled = []
    for name in ("train", "validation", "test"):
        joined = pd.concat(parts[name], ignore_index=True)
        shuffled.append(joined.iloc[rng.permutation(len(joined))].reset_index(drop=True))
    return shuffled[0], shuffled[1], shuffled[2]


def tokenize(text: str) -> list[str]:
    """As docs/text-models.md specifies: lower-case, every match of the pattern, cut."""
    return [match.group(0) for match in re.finditer(TOKEN_PATTERN, text.lower())][:MAX_LENGTH]


def build_vocab(texts: list[str], max_size: int, min_count: int) -> list[str]:
    """PAD, UNK, then training tokens seen ``min_count`` times, most frequent first."""
    counts = Counter(token for text in texts for token in tokenize(text))
    kept = sorted(
        (token for token, count in counts.items() if count >= min_count),
        key=lambda token: (-counts[token], token),
    )
    return [PAD, UNK, *kept[: max_size - 2]]


def encode(texts: list[str], vocab: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    """Ids padded with PAD (id 0) to the longest text, and each text's length (at least 1)."""
    index = {token: position for position, token in enumerate(vocab)}
    unk, pad = index[UNK], index[PAD]
    rows = [[index.get(token, unk) for token in tokenize(text)] or [pad] for text in texts]
    lengths = torch.tensor([len(row) for row in rows], dtype=torch.int64)
    ids = torch.full((len(rows), int(lengths.max())), pad, dtype=torch.int64)
    for position, row in enumerate(rows):
        ids[position, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return ids, lengths


class SentimentLSTM(nn.Module):
    """Token ids -> embedding -> bidirectional LSTM -> max over tokens -> 2 logits.

    ``forward_embedded`` is exported so that rai-audit can attribute the output to the
    embedding layer (Layer Integrated Gradients) although hooks do not run in TorchScript.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_dim, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, len(CLASS_LABELS))

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.forward_embedded(self.embedding(ids), lengths)

    @torch.jit.export
    def forward_embedded(self, embedded: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.dropout(embedded), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        output, _ = self.lstm(packed)
        # Padding far below any LSTM output (in [-1, 1]) so the max ignores it.
        padded, _ = nn.utils.rnn.pad_packed_sequence(
            output, batch_first=True, padding_value=-1e4, total_length=embedded.shape[1]
        )
        return self.out(self.dropout(padded.max(dim=1).values))


def set_determinism(seed: int, threads: int) -> None:
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(threads)


@torch.no_grad()
def accuracy(model: nn.Module, ids: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor) -> float:
    """Share of texts whose highest logit is the true class (exact: a count over a count)."""
    model.eval()
    return int((model(ids, lengths).argmax(dim=1) == y).sum()) / len(y)


def train(
    model: SentimentLSTM,
    data: dict[str, tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> tuple[int, float]:
    """Adam on cross-entropy; keeps the weights of the epoch with the best validation accuracy."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(seed)
    ids, lengths, y = data["train"]
    best: tuple[float, int, dict[str, Any]] = (-1.0, 0, {})
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(y), generator=shuffle)
        total = 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            width = int(lengths[idx].max())
            optimizer.zero_grad()
            loss = loss_fn(model(ids[idx, :width], lengths[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        validation = accuracy(model, *data["validation"])
        print(f"epoch {epoch}/{epochs}  loss {total / len(y):.4f}  validation {validation:.4f}")
        if validation > best[0]:
            best = (validation, epoch, copy.deepcopy(model.state_dict()))
    model.load_state_dict(best[2])
    return best[1], best[0]


def write_csv_gz(frame: pd.DataFrame, path: Path) -> None:
    """UTF-8 CSV with a header, gzipped with mtime 0 and no stored file name."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        frame.to_csv(text, index=False, lineterminator="\n")


def text_metadata() -> dict[str, Any]:
    return {
        "format": "rai-audit/text-v1",
        "tokenizer": {
            "lowercase": True,
            "pattern": TOKEN_PATTERN,
            "pad": PAD,
            "unk": UNK,
            "max_length": MAX_LENGTH,
        },
        "vocab_file": "rai_audit_vocab.txt",
        "input": "ids_and_lengths",
        "class_labels": CLASS_LABELS,
        "positive_label": POSITIVE_LABEL,
        "adverse_label": ADVERSE_LABEL,
        "output_kind": "logits",
        "embedding": "embedding",
    }


def save_torchscript(model: nn.Module, path: Path, vocab: list[str]) -> None:
    model.eval()
    extra = {
        "rai_audit_text.json": json.dumps(text_metadata(), indent=2),
        "rai_audit_vocab.txt": "".join(f"{token}\n" for token in vocab),
    }
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        torch.jit.save(torch.jit.script(model), str(path), _extra_files=extra)


def check_saved(model_path: Path, test_csv: Path, expected: float) -> None:
    """Reload the archive and the written CSV as an auditor would; re-measure the accuracy."""
    extra = {"rai_audit_text.json": "", "rai_audit_vocab.txt": ""}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        loaded = torch.jit.load(str(model_path), _extra_files=extra)
    vocab = extra["rai_audit_vocab.txt"].decode("utf-8").split("\n")[:-1]  # type: ignore[union-attr]
    test = pd.read_csv(test_csv)
    ids, lengths = encode(test["text"].tolist(), vocab)
    y = torch.from_numpy((test["label"] == POSITIVE_LABEL).to_numpy(dtype=np.int64))
    reloaded = accuracy(loaded, ids, lengths, y)
    if abs(reloaded - expected) > 1e-9:
        raise RuntimeError(f"reloaded model: accuracy {reloaded} != {expected}")
    print(f"reloaded {model_path.name}: same test accuracy on {test_csv.name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the sentiment example model.")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training split")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate")
    parser.add_argument("--vocab-size", type=int, default=8000, help="tokens kept, PAD/UNK too")
    parser.add_argument("--min-count", type=int, default=2, help="rarer tokens become UNK")
    parser.add_argument("--embedding-dim", type=int, default=50)
    parser.add_argument("--hidden", type=int, default=64, help="LSTM units per direction")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (fixed)")
    parser.add_argument("--out-dir", type=Path, default=HERE)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    set_determinism(args.seed, args.threads)
    parts = []
    for suffix, label in (("neg", "negative"), ("pos", "positive")):
        texts = read_sentences(DATA_DIR / f"rt-polarity.{suffix}.gz")
        parts.append(pd.DataFrame({"text": texts, "label": label}))
    frame = pd.concat(parts, ignore_index=True)
    train_df, validation_df, test_df = split(frame, args.seed)
    print(f"train {len(train_df)}, validation {len(validation_df)}, test {len(test_df)} rows")
    vocab = build_vocab(train_df["text"].tolist(), args.vocab_size, args.min_count)
    print(f"vocabulary {len(vocab)} tokens")

    def tensors(part: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ids, lengths = encode(part["text"].tolist(), vocab)
        y = torch.from_numpy((part["label"] == POSITIVE_LABEL).to_numpy(dtype=np.int64))
        return ids, lengths, y

    data = {"train": tensors(train_df), "validation": tensors(validation_df)}
    model = SentimentLSTM(len(vocab), args.embedding_dim, args.hidden, args.dropout)
    best_epoch, validation_accuracy = train(
        model, data, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed
    )
    test_accuracy = accuracy(model, *tensors(test_df))
    seconds = time.perf_counter() - started
    print(f"best epoch {best_epoch}; test accuracy {test_accuracy:.4f} ({seconds:.0f} s)")

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path, test_csv = out_dir / "model.pt", out_dir / "test.csv.gz"
    save_torchscript(model, model_path, vocab)
    write_csv_gz(test_df, test_csv)
    metrics = {
        "test_accuracy": test_accuracy,
        "validation_accuracy": validation_accuracy,
        "best_epoch": best_epoch,
        "n_train": len(train_df),
        "n_validation": len(validation_df),
        "n_test": len(test_df),
        "vocab_size": len(vocab),
        "embedding_dim": args.embedding_dim,
        "hidden": args.hidden,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "dropout": args.dropout,
        "seed": args.seed,
        "threads": args.threads,
        "torch_version": torch.__version__,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    check_saved(model_path, test_csv, test_accuracy)
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes), {test_csv}, metrics.json")


if __name__ == "__main__":
    main()
