"""Train the bundled UCI Adult example model for rai-audit.

Reads the unmodified UCI Adult files from ``data/``, trains a small MLP that predicts
``income`` (``>50K`` is the positive class) and writes, next to this script:

- ``model.pt``: a TorchScript archive whose extra file ``rai_audit.json`` describes how CSV
  columns become the model input (format ``rai-audit/features-v1``, see
  ``docs/model-formats.md``);
- ``test.csv.gz``: the cleaned test split, with a header row, to audit the model on;
- ``metrics.json``: the test accuracy and the training settings.

``sex`` and ``race`` are model inputs on purpose: the audit is meant to detect their use.

The run is deterministic: the same seed, epochs and thread count give the same model and the
same test accuracy. Usage::

    python examples/adult/train.py [--epochs N] [--seed S]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
DATA_DIR = HERE / "data"

# Column order of adult.data / adult.test (the files have no header row).
COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education-num",
    "marital-status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital-gain",
    "capital-loss",
    "hours-per-week",
    "native-country",
    "income",
]
TARGET = "income"
CLASS_LABELS = ["<=50K", ">50K"]  # output column i of the model is CLASS_LABELS[i]
POSITIVE_LABEL = ">50K"
NUMERIC = ["age", "education-num", "capital-gain", "capital-loss", "hours-per-week"]
# fnlwgt is a census sampling weight, not a property of the person: it is not a model input.
EXCLUDED = ["fnlwgt", TARGET]
# Model inputs, in the files' column order; every non-numeric input is categorical.
FEATURES = [c for c in COLUMNS if c not in EXCLUDED]
CATEGORICAL = [c for c in FEATURES if c not in NUMERIC]

# torch.jit.script / save / load warn that TorchScript is deprecated; rai-audit reads
# TorchScript archives (docs/model-formats.md), so the notice is expected here.
_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


def read_split(path: Path, *, skip_first_line: bool) -> pd.DataFrame:
    """Read one Adult split (gzipped, no header, ", " separated) and clean it.

    Cells are stripped of spaces, ``?`` (missing) is kept as an ordinary category string and
    the test split's labels lose their trailing period (``>50K.`` -> ``>50K``).
    """
    df = pd.read_csv(
        path,
        header=None,
        names=COLUMNS,
        sep=",",
        skiprows=1 if skip_first_line else 0,  # adult.test starts with a comment line
        dtype=str,
        keep_default_na=False,  # read everything as text: "?" is a value, not NaN
        skip_blank_lines=True,  # both files end with an empty line
    )
    df = df.apply(lambda col: col.str.strip())
    df[TARGET] = df[TARGET].str.removesuffix(".")
    unexpected = set(df[TARGET]) - set(CLASS_LABELS)
    if unexpected:
        raise ValueError(f"{path.name}: unexpected income labels {sorted(unexpected)}")
    for col in [*NUMERIC, "fnlwgt"]:
        df[col] = df[col].astype(np.int64)
    return df


def fit_feature_spec(train: pd.DataFrame) -> list[dict[str, Any]]:
    """Feature metadata (rai-audit/features-v1) fitted on the training split only."""
    spec: list[dict[str, Any]] = []
    for col in FEATURES:
        if col in NUMERIC:
            values = train[col].to_numpy(dtype=np.float64)
            std = float(values.std())  # population std (ddof=0), as StandardScaler
            spec.append(
                {
                    "column": col,
                    "kind": "numeric",
                    "mean": float(values.mean()),
                    "scale": std if std > 0 else 1.0,
                }
            )
        else:
            categories = sorted(train[col].unique().tolist())
            spec.append({"column": col, "kind": "categorical", "categories": categories})
    return spec


def encode(df: pd.DataFrame, spec: list[dict[str, Any]]) -> np.ndarray:
    """Build the model input from ``spec`` exactly as docs/model-formats.md describes it.

    numeric -> (x - mean) / scale; categorical -> one-hot in ``categories`` order, a value
    not in the list -> all zeros. Blocks are concatenated in the listed order.
    """
    blocks: list[np.ndarray] = []
    for feat in spec:
        col = df[feat["column"]]
        if feat["kind"] == "numeric":
            x = col.to_numpy(dtype=np.float64)
            blocks.append(((x - feat.get("mean", 0.0)) / feat.get("scale", 1.0))[:, None])
        elif feat["kind"] == "categorical":
            values = col.astype(str).to_numpy()
            categories = np.asarray(feat["categories"], dtype=object)
            blocks.append((values[:, None] == categories[None, :]).astype(np.float64))
        else:
            raise ValueError(f"unknown feature kind {feat['kind']!r}")
    return np.concatenate(blocks, axis=1).astype(np.float32)


def encode_target(df: pd.DataFrame) -> np.ndarray:
    """Class index of each row's income label (0: ``<=50K``, 1: ``>50K``)."""
    return (df[TARGET] == POSITIVE_LABEL).to_numpy(dtype=np.int64)


def build_model(input_width: int) -> nn.Module:
    """input -> 64 -> 32 -> 2 logits, ReLU activations."""
    return nn.Sequential(
        nn.Linear(input_width, 64),
        nn.ReLU(),
        nn.Linear(64, 32),
        nn.ReLU(),
        nn.Linear(32, len(CLASS_LABELS)),
    )


def set_determinism(seed: int, threads: int) -> None:
    """Seed every generator used and make torch refuse nondeterministic kernels."""
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    # CPU float reductions may be blocked differently with another thread count: pin it.
    torch.set_num_threads(threads)


def train(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
) -> None:
    """Minibatch Adam on the cross-entropy loss, reshuffling every epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    shuffle = torch.Generator().manual_seed(seed)  # own generator: order depends on seed only
    model.train()
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(x), generator=shuffle)
        total = 0.0
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch:2d}/{epochs}  train loss {total / len(x):.4f}")


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows whose highest logit is the true class."""
    model.eval()
    correct = int((model(x).argmax(dim=1) == y).sum())
    return correct / len(y)


def write_csv_gz(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` as UTF-8 CSV with a header, gzipped with mtime 0 and no stored file name."""
    with (
        path.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz,
        io.TextIOWrapper(gz, encoding="utf-8", newline="") as text,
    ):
        df.to_csv(text, index=False, lineterminator="\n")


def save_torchscript(model: nn.Module, path: Path, metadata: dict[str, Any]) -> None:
    """Save ``model`` as TorchScript with ``metadata`` as the extra file ``rai_audit.json``."""
    model.eval()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        scripted = torch.jit.script(model)
        torch.jit.save(
            scripted, str(path), _extra_files={"rai_audit.json": json.dumps(metadata, indent=2)}
        )


def check_saved(model_path: Path, test_csv: Path, expected_accuracy: float) -> None:
    """Reload the saved artifacts the way an auditor would and re-measure the accuracy.

    The input is rebuilt from the embedded metadata and the written test.csv.gz only, so this
    checks the archive, the metadata and the CSV together.
    """
    extra = {"rai_audit.json": ""}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_JIT_DEPRECATION, category=DeprecationWarning)
        loaded = torch.jit.load(str(model_path), _extra_files=extra)
    metadata = json.loads(extra["rai_audit.json"])
    if metadata.get("format") != "rai-audit/features-v1":
        raise RuntimeError(f"{model_path.name}: unexpected metadata format")
    test = pd.read_csv(test_csv)
    x = torch.from_numpy(encode(test, metadata["features"]))
    y = torch.from_numpy((test[TARGET] == metadata["positive_label"]).to_numpy(dtype=np.int64))
    reloaded = accuracy(loaded, x, y)
    if reloaded != expected_accuracy:
        raise RuntimeError(f"reloaded model: accuracy {reloaded} != {expected_accuracy}")
    print(f"reloaded {model_path.name}: same test accuracy on {test_csv.name}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the UCI Adult example model for rai-audit.")
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training split")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (fixed for reproducibility)"
    )
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=HERE,
        help="where model.pt, test.csv.gz and metrics.json go (default: this script's folder)",
    )
    args = parser.parse_args(argv)

    started = time.perf_counter()
    set_determinism(args.seed, args.threads)

    train_df = read_split(DATA_DIR / "adult.data.gz", skip_first_line=False)
    test_df = read_split(DATA_DIR / "adult.test.gz", skip_first_line=True)
    print(f"train rows {len(train_df)}, test rows {len(test_df)}")

    spec = fit_feature_spec(train_df)
    x_train = torch.from_numpy(encode(train_df, spec))
    y_train = torch.from_numpy(encode_target(train_df))
    x_test = torch.from_numpy(encode(test_df, spec))
    y_test = torch.from_numpy(encode_target(test_df))
    input_width = x_train.shape[1]
    print(f"input width {input_width}")

    model = build_model(input_width)
    train(
        model,
        x_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
    )
    test_accuracy = accuracy(model, x_test, y_test)
    train_seconds = time.perf_counter() - started
    print(f"test accuracy {test_accuracy:.4f}  ({train_seconds:.1f} s)")

    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": "rai-audit/features-v1",
        "features": spec,
        "class_labels": CLASS_LABELS,
        "positive_label": POSITIVE_LABEL,
        "output_kind": "logits",
    }
    model_path = out_dir / "model.pt"
    test_csv = out_dir / "test.csv.gz"
    save_torchscript(model, model_path, metadata)
    write_csv_gz(test_df, test_csv)
    metrics = {
        "test_accuracy": test_accuracy,
        "n_train": len(train_df),
        "n_test": len(test_df),
        "input_width": input_width,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate": args.lr,
        "seed": args.seed,
        "threads": args.threads,
        "torch_version": torch.__version__,
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    check_saved(model_path, test_csv, test_accuracy)
    print(f"wrote {model_path}, {test_csv}, {out_dir / 'metrics.json'}")


if __name__ == "__main__":
    main()
