"""A Hugging Face sequence classifier saved with save_pretrained, audited as a text model.

A tiny BERT (16 wide, one layer) and a WordPiece tokenizer over the words of the synthetic
reviews are built and briefly trained here, then saved into tmp_path; nothing is downloaded,
and every test runs with the network cut (a socket that refuses to connect) and
HF_HUB_OFFLINE=1. Scores are recomputed with transformers directly, apart from the adapter.
"""

from __future__ import annotations

import json
import shutil
import socket
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import Cli, Workspace, assert_one_line_error
from test_text_kit import sentences, tokenize

from audit import validate_document
from audit.core.errors import ModelError
from audit.core.trail import file_info
from audit.text.adapter import load_text_model

transformers = pytest.importorskip("transformers")

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
LABELS = {0: "negative", 1: "positive"}
# Integrated Gradients needs more steps than the default on this sharp tiny model: at 50 its
# sums miss the score change by up to 0.5, at 300 by under 1e-3.
STEPS = 300
POLICY = (
    "n_boot = 50\nmin_group_size = 5\n[text]\npii_rows = 20\nattribution_rows = 8\n"
    f"attribution_steps = {STEPS}\n"
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any connection attempt fails the test: loading must read the folder alone."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a network connection was attempted: {args}")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def build_folder(root: Path) -> tuple[Path, Any, Any]:
    """A trained tiny BERT and its tokenizer saved with save_pretrained into ``root/model``."""
    training = sentences(200, seed=20)
    words = sorted({token for text in training["text"] for token in tokenize(text)})
    vocab_dir = root / "vocab"
    vocab_dir.mkdir()
    (vocab_dir / "vocab.txt").write_text("".join(f"{t}\n" for t in SPECIALS + words), "utf-8")
    tokenizer = transformers.BertTokenizerFast.from_pretrained(vocab_dir, local_files_only=True)
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=len(SPECIALS) + len(words),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=32,
        num_labels=2,
        id2label=LABELS,
        label2id={name: index for index, name in LABELS.items()},
    )
    model = transformers.BertForSequenceClassification(config)
    batch = tokenizer(list(training["text"]), padding=True, return_tensors="pt")
    y = torch.tensor((training["label"] == "positive").to_numpy(dtype=np.int64))
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.01)
    model.train()
    for _ in range(15):  # enough to spread the scores over both sides of 0.5
        optimizer.zero_grad()
        model(**batch, labels=y).loss.backward()
        optimizer.step()
    model.eval()
    folder = root / "model"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder, model, tokenizer


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any]:
    return build_folder(tmp_path_factory.mktemp("hf"))


def positive_scores(model: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    """P(positive) with transformers directly."""
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = model(**batch).logits
    return torch.softmax(logits.double(), dim=1)[:, 1].numpy()


def reviews(rows: int = 50) -> pd.DataFrame:
    frame = sentences(rows, seed=21)
    frame["group"] = np.where(np.arange(rows) % 3 == 0, "a", "b")
    return frame


def write_policy(cli: Cli) -> None:
    (cli.cwd / "rai-audit.toml").write_text(POLICY, encoding="utf-8")


def report(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    return document


def group_metrics(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        entry["group"][0]: entry["metrics"]
        for entry in document["groups"]
        if entry["feature"] == ["group"]
    }


def test_folder_is_audited_end_to_end_like_its_own_predictions(
    cli: Cli, workspace: Workspace, tmp_path: Path, saved: tuple[Path, Any, Any]
) -> None:
    folder, model, tokenizer = saved
    frame = reviews()
    data = workspace.table(frame, "reviews.csv")
    write_policy(cli)
    out = tmp_path / "out"
    args = ("--target", "label", "--sensitive", "group", "--out")
    result = cli("run", folder, data, "--text-column", "text", *args, out)
    assert result.exit_code in (0, 1), result.output
    document = report(out)
    assert document["run"]["model"]["kind"] == "huggingface"
    for package in ("transformers", "tokenizers", "safetensors"):
        assert document["run"]["versions"][package] == version(package)
    assert document["run"]["model"]["file"] == {
        "path": str(folder),
        "sha256": file_info(folder).sha256,
        "bytes": sum(p.stat().st_size for p in folder.iterdir()),
    }

    text = document["text"]
    assert text["model"]["format"] == "huggingface/bert"
    assert text["model"]["positive_label"] == "positive"
    assert text["model"]["adverse_label"] == "negative"
    mentions = {g["group"]: g["rows"] for g in text["identity"]["groups"] if g["rows"]}
    texts = list(frame["text"])
    assert mentions["female"] == sum(bool({"she", "woman"} & set(tokenize(t))) for t in texts)
    assert text["subgroup_auc"]["status"] == "ok"
    assert text["counterfactual"]["status"] == "ok"

    # The acceptance test: the same model's scores, computed with transformers and audited
    # as a predictions column, give the same group metrics.
    scores = positive_scores(model, tokenizer, texts)
    assert 0 < (scores >= 0.5).mean() < 1
    scored = frame.assign(score=scores, decision=(scores >= 0.5).astype(int))
    other = tmp_path / "predictions"
    result = cli(
        "run",
        workspace.table(scored, "scored.csv"),
        *("--predictions", "decision", "--scores", "score"),
        *args,
        other,
    )
    assert result.exit_code in (0, 1), result.output
    expected = group_metrics(report(other))
    found = group_metrics(document)
    assert set(found) == {"a", "b"}
    for group, metrics in expected.items():
        for name, value in metrics.items():
            assert found[group][name] == pytest.approx(value, abs=1e-9), (group, name)

    # Token attributions add up to the score's change from the baseline: every text token
    # replaced by [PAD], [CLS] and [SEP] kept, all attended to.
    attributions = text["attributions"]
    assert attributions["method"] == "layer_integrated_gradients"
    assert attributions["max_abs_delta"] < 0.01
    assert attributions["terms"], attributions
    assert attributions["examples"], attributions
    for example in (
        item[side] for item in attributions["examples"] for side in ("original", "swapped")
    ):
        tokens = [t["token"] for t in example["tokens"]]
        ids = tokenizer.convert_tokens_to_ids(["[CLS]", *tokens, "[SEP]"])
        baseline = [ids[0]] + [tokenizer.pad_token_id] * len(tokens) + [ids[-1]]
        with torch.no_grad():
            logits = model(torch.tensor([ids, baseline])).logits
        full, empty = torch.softmax(logits.double(), dim=1)[:, 1].tolist()
        assert example["score"] == pytest.approx(full, abs=1e-5)
        total = sum(t["attribution"] for t in example["tokens"])
        assert total == pytest.approx(full - empty, abs=0.01)


def test_adapter_scores_and_attributions_match_transformers(saved: tuple[Path, Any, Any]) -> None:
    from audit.models.positive_score import PositiveScore
    from audit.text.attributions import attribute_texts

    folder, model, tokenizer = saved
    loaded = load_text_model(folder)
    assert loaded.loaded.kind == "huggingface" and not loaded.loaded.trusted
    assert loaded.loaded.class_labels == ("negative", "positive")
    texts = ["the woman was great .", "i thought he was awful .", ""]
    output = loaded.adapter.predict_texts(texts)
    expected = positive_scores(model, tokenizer, texts[:2])
    assert torch.softmax(torch.tensor(output[:2]), dim=1)[:, 1].numpy() == pytest.approx(
        expected, abs=1e-6
    )
    assert loaded.tokenizer.tokens(texts[0]) == ["the", "woman", "was", "great", "."]
    assert loaded.tokenizer.known("woman") and not loaded.tokenizer.known("[UNK]")
    assert loaded.tokenizer.spec.max_length == 30  # 32 positions, less [CLS] and [SEP]
    attributed, method, notes = attribute_texts(
        texts[:2], loaded.adapter, PositiveScore("logits", 1).from_torch, n_steps=STEPS
    )
    assert method == "layer_integrated_gradients" and notes == []
    for text, item, score in zip(texts, attributed, expected, strict=False):
        assert item.tokens == tokenize(text)
        baseline = tokenizer.convert_tokens_to_ids(["[CLS]", *["[PAD]"] * len(item.tokens)])
        ids = torch.tensor([[*baseline, tokenizer.sep_token_id]])
        with torch.no_grad():
            empty = float(torch.softmax(model(ids).logits.double(), dim=1)[0, 1])
        assert item.score == pytest.approx(float(score), abs=1e-6)
        assert float(item.values.sum()) == pytest.approx(float(score) - empty, abs=2e-3)


def copy_folder(folder: Path, target: Path, *, pickled: bool = False) -> Path:
    shutil.copytree(folder, target)
    if pickled:
        weights = transformers.AutoModelForSequenceClassification.from_pretrained(
            folder, local_files_only=True
        ).state_dict()
        (target / "model.safetensors").unlink()
        torch.save(weights, target / "pytorch_model.bin")
    return target


def test_pickled_weights_need_trust_model(
    cli: Cli, workspace: Workspace, tmp_path: Path, saved: tuple[Path, Any, Any]
) -> None:
    folder, model, tokenizer = saved
    pickled = copy_folder(folder, tmp_path / "pickled", pickled=True)
    data = workspace.table(reviews(), "reviews.csv")
    write_policy(cli)
    args = ("run", pickled, data, "--text-column", "text", "--target", "label")
    refused = cli(*args, "--out", tmp_path / "refused")
    assert_one_line_error(refused, "pytorch_model.bin", "is a pickle", "--trust-model")
    assert not (tmp_path / "refused").exists()

    trusted = load_text_model(pickled, trust=True)
    assert trusted.loaded.trusted and trusted.loaded.extra["file_scan"].file == "pytorch_model.bin"
    texts = ["she seemed dull", "the film was superb ."]
    output = torch.tensor(trusted.adapter.predict_texts(texts))
    assert torch.softmax(output, dim=1)[:, 1].numpy() == pytest.approx(
        positive_scores(model, tokenizer, texts), abs=1e-6
    )


def test_positive_label_picks_a_class_by_its_id2label_name(
    cli: Cli, workspace: Workspace, tmp_path: Path, saved: tuple[Path, Any, Any]
) -> None:
    folder, model, tokenizer = saved
    frame = reviews(30)
    write_policy(cli)
    data = workspace.table(frame, "reviews.csv")
    out = tmp_path / "out"
    result = cli(
        *("run", folder, data, "--text-column", "text", "--target", "label"),
        *("--positive-label", "negative", "--sensitive", "group", "--out", out),
    )
    assert result.exit_code in (0, 1), result.output
    document = report(out)
    assert document["text"]["model"]["positive_label"] == "negative"
    assert document["text"]["model"]["adverse_label"] == "positive"
    negative = 1 - positive_scores(model, tokenizer, list(frame["text"]))
    rates = group_metrics(document)
    for group in ("a", "b"):
        chosen = (frame["group"] == group).to_numpy()
        assert rates[group]["selection_rate"] == pytest.approx(
            float((negative[chosen] >= 0.5).mean()), abs=1e-9
        )

    renamed = workspace.table(frame.assign(label=frame["label"].str[:3]), "short.csv")
    result = cli(
        *("run", folder, renamed, "--text-column", "text", "--target", "label"),
        *("--positive-label", "pos", "--out", tmp_path / "bad"),
    )
    assert_one_line_error(result, "'pos'", "not one of the model's classes", "'positive'")


@pytest.mark.parametrize(
    ("remove", "needles"),
    [
        (("tokenizer.json", "tokenizer_config.json"), ["has no tokenizer", "save_pretrained"]),
        (("model.safetensors",), ["has no model.safetensors", "save_pretrained"]),
    ],
)
def test_incomplete_folder_is_one_line_error_without_a_hub_lookup(
    cli: Cli,
    workspace: Workspace,
    tmp_path: Path,
    saved: tuple[Path, Any, Any],
    remove: tuple[str, ...],
    needles: list[str],
) -> None:
    broken = copy_folder(saved[0], tmp_path / "broken")
    for name in remove:
        (broken / name).unlink()
    data = workspace.table(reviews(), "reviews.csv")
    result = cli("run", broken, data, "--text-column", "text", "--target", "label")
    assert_one_line_error(result, str(broken), *needles)


def test_broken_config_and_folder_without_config_are_one_line_errors(
    workspace: Workspace, tmp_path: Path, saved: tuple[Path, Any, Any]
) -> None:
    broken = copy_folder(saved[0], tmp_path / "broken")
    (broken / "config.json").write_text('{"model_type": "no-such-model"}', encoding="utf-8")
    with pytest.raises(ModelError, match="transformers cannot load it as a sequence classifier"):
        load_text_model(broken)
    with pytest.raises(ModelError, match=r"is a directory without config\.json"):
        load_text_model(workspace.root)


def test_folder_hash_covers_every_file(tmp_path: Path, saved: tuple[Path, Any, Any]) -> None:
    copied = copy_folder(saved[0], tmp_path / "copy")
    before = file_info(copied)
    assert before.bytes == sum(p.stat().st_size for p in copied.iterdir())
    assert file_info(copied) == before  # the same files, the same hash
    (copied / "tokenizer_config.json").write_text("{}", encoding="utf-8")
    assert file_info(copied).sha256 != before.sha256
