"""The text model format: tokenizer, adapter, and the input errors of a bad text model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import Cli, Workspace, assert_one_line_error, default_module
from test_text_kit import (
    PAD,
    UNK,
    BagModel,
    bag_scores,
    save_text_model,
    sentences,
    text_metadata,
    tokenize,
    train_bag,
    vocabulary,
)

from audit.core.errors import ModelError
from audit.models.positive_score import PositiveScore
from audit.text.adapter import load_text_model
from audit.text.attributions import attribute_texts
from audit.text.model_format import TokenizerSpec
from audit.text.tokenizer import Tokenizer

VOCAB = [PAD, UNK, "the", "film", "was", "great", "'s", "he", "."]


def test_tokenizer_lowercases_splits_clitics_cuts_and_pads() -> None:
    spec = TokenizerSpec(pattern=r"\w+|'\w+|[^\w\s]", pad=PAD, unk=UNK, max_length=4)
    tokenizer = Tokenizer(spec, VOCAB)
    assert tokenizer.tokens("He's GREAT.") == ["he", "'s", "great", "."]
    assert tokenizer.tokens("The film was great, he said") == ["the", "film", "was", "great"]
    assert tokenizer.count("The film was great, he said") == 7
    encoded = tokenizer.encode(["the film", "", "he's nice"])
    # "" becomes one pad token of length 1; "nice" is unknown (id 1); padding is id 0.
    assert encoded.ids.tolist() == [[2, 3, 0], [0, 0, 0], [7, 6, 1]]
    assert encoded.lengths.tolist() == [2, 1, 3]


def test_tokenizer_pattern_with_groups_still_yields_whole_matches() -> None:
    spec = TokenizerSpec(pattern=r"(\w)\w*", pad=PAD, unk=UNK, max_length=8)
    assert Tokenizer(spec, VOCAB).tokens("the film") == ["the", "film"]


def test_adapter_scores_strings_like_the_weights_say(workspace: Workspace) -> None:
    frame = sentences(400, seed=1)
    vocab = vocabulary(frame)
    model = train_bag(frame, vocab, epochs=50)
    path = save_text_model(workspace.root / "bag.pt", model, vocab)
    loaded = load_text_model(path)
    texts = ["The film was GREAT .", "she seemed dull", "", "words nobody taught it"]
    # [n] and [n, 1] object arrays alike; output is the two logits.
    flat = loaded.adapter.predict_proba(np.array(texts, dtype=object))
    column = loaded.adapter.predict_proba(np.array(texts, dtype=object)[:, None])
    np.testing.assert_allclose(flat, column)
    probability = 1 / (1 + np.exp(-(flat[:, 1] - flat[:, 0])))
    np.testing.assert_allclose(probability, bag_scores(model, vocab, texts), atol=1e-6)
    assert loaded.loaded.class_labels == ("negative", "positive")
    assert loaded.tokenizer.vocab == tuple(vocab)


def test_inline_vocabulary_and_mask_input(workspace: Workspace) -> None:
    class MaskModel(torch.nn.Module):
        def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            # The number of real tokens as the logit: shows the mask reached the model.
            return mask.sum(dim=1, keepdim=True).to(torch.float32) + 0.0 * ids[:, :1]

    metadata = text_metadata(vocab=VOCAB, vocab_file=None, input="ids_and_mask")
    path = save_text_model(workspace.root / "mask.pt", MaskModel(), VOCAB, metadata, False)
    output = load_text_model(path).adapter.predict_texts(["the film was great", "he", ""])
    assert output[:, 0].tolist() == [4.0, 1.0, 1.0]


def test_tokenize_helper_matches_the_engine() -> None:
    spec = TokenizerSpec(
        pattern=text_metadata()["tokenizer"]["pattern"], pad=PAD, unk=UNK, max_length=32
    )
    text = "She's co-writer/director of Peter's film -- isn't it?"
    assert Tokenizer(spec, [PAD, UNK]).tokens(text) == tokenize(text)


# ---------------------------------------------------------------------------- bad files
def _audit_args(model: Path, data: Path, out: Path) -> list[str | Path]:
    return ["run", model, data, "--text-column", "text", "--target", "label", "--out", out]


@pytest.fixture
def review_data(workspace: Workspace) -> Path:
    return workspace.table(sentences(60, seed=2))


def test_missing_vocabulary_file_is_one_input_error(
    cli: Cli, workspace: Workspace, review_data: Path, tmp_path: Path
) -> None:
    path = save_text_model(workspace.root / "m.pt", BagModel(len(VOCAB)), VOCAB, vocab_file=False)
    result = cli(*_audit_args(path, review_data, tmp_path / "out"))
    assert_one_line_error(result, "m.pt", "rai_audit_vocab.txt", "no such extra file")
    assert not (tmp_path / "out").exists()


def test_wrong_format_string_is_one_input_error(
    cli: Cli, workspace: Workspace, review_data: Path, tmp_path: Path
) -> None:
    metadata = text_metadata(format="rai-audit/text-v9")
    path = save_text_model(workspace.root / "m.pt", BagModel(len(VOCAB)), VOCAB, metadata)
    result = cli(*_audit_args(path, review_data, tmp_path / "out"))
    assert_one_line_error(result, "rai_audit_text.json", "'rai-audit/text-v9'", "text-v1")


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        ({"tokenizer": {"pattern": "(", "pad": PAD, "unk": UNK, "max_length": 8}}, ["regular"]),
        ({"tokenizer": {"pattern": r"\w+", "pad": "<p>", "unk": UNK, "max_length": 8}}, ["'<p>'"]),
        ({"input": "ids"}, ["input"]),
        ({"positive_label": "pos"}, ["positive_label", "'pos'"]),
    ],
)
def test_invalid_metadata_is_one_input_error(
    cli: Cli,
    workspace: Workspace,
    review_data: Path,
    tmp_path: Path,
    change: dict[str, object],
    needles: list[str],
) -> None:
    path = save_text_model(
        workspace.root / "m.pt", BagModel(len(VOCAB)), VOCAB, text_metadata(**change)
    )
    assert_one_line_error(cli(*_audit_args(path, review_data, tmp_path / "out")), *needles)


def test_tabular_torchscript_with_text_column_is_one_input_error(
    cli: Cli, workspace: Workspace, review_data: Path, tmp_path: Path
) -> None:
    path = workspace.torchscript(default_module())
    result = cli(*_audit_args(path, review_data, tmp_path / "out"))
    assert_one_line_error(result, "no rai_audit_text.json", "docs/text-models.md")


def test_text_column_problems_are_input_errors(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    frame = sentences(60, seed=3)
    path = save_text_model(workspace.root / "m.pt", BagModel(40), vocabulary(frame))
    data = workspace.table(frame)
    result = cli("run", path, data, "--text-column", "review", "--target", "label")
    assert_one_line_error(result, "no column 'review' for --text-column", "text, label")
    frame.loc[5, "text"] = np.nan
    holes = workspace.table(frame, "holes.csv")
    result = cli("run", path, holes, "--text-column", "text", "--target", "label")
    assert_one_line_error(result, "text column 'text' has 1 missing", "data row 6")
    result = cli("run", holes, "--text-column", "text", "--target", "label", "--predictions", "p")
    assert_one_line_error(result, "--text-column audits a text model")


def test_sensitive_stays_required_without_text_column(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    frame = pd.DataFrame({"x": [0.1, 0.9] * 20, "label": [0, 1] * 20})
    model = workspace.torchscript(torch.nn.Linear(1, 2))
    result = cli("run", model, workspace.table(frame), "--target", "label")
    assert_one_line_error(result, "--sensitive")
    result = cli(
        "run", model, workspace.table(frame), "--target", "label", "--identity-terms", "x.toml"
    )
    assert_one_line_error(result, "--identity-terms goes with --text-column")


def test_loader_refuses_other_suffixes_and_broken_archives(workspace: Workspace) -> None:
    with pytest.raises(ModelError, match=r"a TorchScript \.pt archive"):
        load_text_model(workspace.text("model.pt2", "not a model"))
    with pytest.raises(ModelError, match="not a loadable TorchScript file"):
        load_text_model(workspace.text("broken.pt", "not a zip"))


class PlainBag(torch.nn.Module):
    """The bag model's arithmetic without an exported forward_embedded."""

    def __init__(self, bag: BagModel) -> None:
        super().__init__()
        self.bag = bag

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.bag(ids, lengths)


def test_attributions_without_forward_embedded_fall_back_to_ablation(
    workspace: Workspace,
) -> None:
    frame = sentences(400, seed=4)
    vocab = vocabulary(frame)
    bag = train_bag(frame, vocab, epochs=50)
    path = save_text_model(workspace.root / "plain.pt", PlainBag(bag), vocab)
    loaded = load_text_model(path)
    texts = ["the film was great .", "she seemed dull"]
    attributed, method, notes = attribute_texts(
        texts, loaded.adapter, PositiveScore("logits", 1).from_torch, n_steps=20
    )
    assert method == "feature_ablation"
    assert "forward_embedded" in notes[0]
    weights = bag.embedding.weight.detach().numpy()[:, 0].astype(np.float64)
    bias = float(bag.bias.detach())
    index = {token: position for position, token in enumerate(vocab)}
    for text, item in zip(texts, attributed, strict=True):
        ids = [index[token] for token in tokenize(text)]
        assert item.tokens == tokenize(text)
        full = 1 / (1 + np.exp(-(weights[ids].mean() + bias)))
        for position in range(len(ids)):
            ablated = list(ids)
            ablated[position] = 0  # the pad token, weight 0, still counted in the length
            without = 1 / (1 + np.exp(-(weights[ablated].mean() + bias)))
            assert item.values[position] == pytest.approx(full - without, abs=1e-6)


def test_integrated_gradients_add_up_to_the_score_change(workspace: Workspace) -> None:
    frame = sentences(400, seed=5)
    vocab = vocabulary(frame)
    bag = train_bag(frame, vocab, epochs=50)
    loaded = load_text_model(save_text_model(workspace.root / "bag.pt", bag, vocab))
    texts = ["the film was great .", "i thought he was awful ."]
    attributed, method, notes = attribute_texts(
        texts, loaded.adapter, PositiveScore("logits", 1).from_torch, n_steps=50
    )
    assert method == "layer_integrated_gradients" and notes == []
    baseline = bag_scores(bag, vocab, [""])[0]  # all pad tokens: the mean embedding is 0
    for text, item in zip(texts, attributed, strict=True):
        score = bag_scores(bag, vocab, [text])[0]
        assert item.score == pytest.approx(score, abs=1e-6)
        assert float(item.values.sum()) == pytest.approx(score - baseline, abs=1e-3)
        assert abs(item.delta or 0.0) < 1e-3
