"""Text models as ONNX graphs, with the text-v1 files as metadata props: scored like the
TorchScript text model of the same weights, and audited to the same figures."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from conftest import Cli, Workspace, assert_one_line_error
from test_text_kit import (
    BagModel,
    bag_scores,
    encode,
    save_text_model,
    sentences,
    text_metadata,
    train_bag,
    vocabulary,
)

from audit.core.errors import ModelError
from audit.text.adapter import load_text_model


def save_onnx_text(
    path: Path, module: BagModel, vocab: list[str], props: dict[str, str] | None = None
) -> Path:
    """``torch.onnx.export`` of ``forward(ids, lengths)``, batch and width dynamic, with the
    text-v1 files as metadata props (unless ``props`` replaces them)."""
    ids, lengths = encode(["the film was great ."], vocab)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is deprecated
        torch.onnx.export(
            module.eval(),
            (ids, lengths),
            str(path),
            dynamo=False,
            input_names=["ids", "lengths"],
            output_names=["logits"],
            dynamic_axes={"ids": {0: "batch", 1: "width"}, "lengths": {0: "batch"}},
        )
    graph = onnx.load(str(path))
    if props is None:
        props = {
            "rai_audit_text.json": json.dumps(text_metadata()),
            "rai_audit_vocab.txt": "".join(f"{token}\n" for token in vocab),
        }
    onnx.helper.set_model_props(graph, props)
    onnx.save(graph, str(path))
    return path


def test_onnx_text_model_scores_like_its_weights(workspace: Workspace) -> None:
    frame = sentences(400, seed=1)
    vocab = vocabulary(frame)
    bag = train_bag(frame, vocab, epochs=50)
    loaded = load_text_model(save_onnx_text(workspace.root / "bag.onnx", bag, vocab))
    assert loaded.loaded.kind == "onnx"
    assert loaded.loaded.class_labels == ("negative", "positive")
    assert loaded.loaded.notes[-1] == "onnxruntime CPUExecutionProvider, output 'logits'"
    texts = ["The film was GREAT .", "she seemed dull", "", "words nobody taught it"]
    output = loaded.adapter.predict_proba(np.array(texts, dtype=object))
    probability = 1 / (1 + np.exp(-(output[:, 1] - output[:, 0])))
    np.testing.assert_allclose(probability, bag_scores(bag, vocab, texts), atol=1e-6)


def report(out: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((out / "report.json").read_text("utf-8"))
    return document


def assert_close(found: Any, expected: Any, where: str = "") -> None:
    """Equal, but numbers only to float32 rounding: onnxruntime and TorchScript order their
    float32 sums differently."""
    if isinstance(expected, dict):
        assert sorted(found) == sorted(expected), where
        for key in expected:
            assert_close(found[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert len(found) == len(expected), where
        for index, (one, other) in enumerate(zip(found, expected, strict=True)):
            assert_close(one, other, f"{where}[{index}]")
    elif isinstance(expected, float):
        assert found == pytest.approx(expected, rel=1e-5, abs=1e-7), where
    else:
        assert found == expected, where


def test_onnx_text_audit_equals_the_torchscript_one(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    frame = sentences(400, seed=3)
    vocab = vocabulary(frame)
    bag = train_bag(frame, vocab, epochs=50)
    data = workspace.table(sentences(80, seed=6))
    documents = {}
    for name, model in (
        ("onnx", save_onnx_text(workspace.root / "bag.onnx", bag, vocab)),
        ("torchscript", save_text_model(workspace.root / "bag.pt", bag, vocab)),
    ):
        out = tmp_path / name
        result = cli("run", model, data, "--text-column", "text", "--target", "label", "--out", out)
        assert result.exit_code in (0, 1), result.output
        documents[name] = report(out)
    onnx_text, torchscript = documents["onnx"]["text"], documents["torchscript"]["text"]
    assert documents["onnx"]["run"]["model"]["kind"] == "onnx"
    for section in (
        "performance",
        "identity",
        "subgroup_auc",
        "counterfactual",
        "templates",
        "pii",
    ):
        assert_close(onnx_text[section], torchscript[section], section)
    # No gradient flows through onnxruntime: the tokens are attributed by ablation.
    assert onnx_text["attributions"]["method"] == "feature_ablation"
    assert [item["term"] for item in onnx_text["attributions"]["terms"]] == [
        item["term"] for item in torchscript["attributions"]["terms"]
    ]


def test_onnx_text_model_needs_two_inputs(workspace: Workspace) -> None:
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["ids"], ["scores"])],
        "one_input",
        [onnx.helper.make_tensor_value_info("ids", onnx.TensorProto.FLOAT, ["N", 2])],
        [onnx.helper.make_tensor_value_info("scores", onnx.TensorProto.FLOAT, ["N", 2])],
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = workspace.root / "one.onnx"
    onnx.save(model, str(path))
    with pytest.raises(ModelError, match="takes two inputs, token ids and lengths"):
        load_text_model(path)


def test_onnx_text_model_without_its_props_is_one_input_error(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    frame = sentences(60, seed=2)
    vocab = vocabulary(frame)
    model = save_onnx_text(workspace.root / "bag.onnx", BagModel(len(vocab)), vocab, props={})
    result = cli(
        "run",
        model,
        workspace.table(frame),
        "--text-column",
        "text",
        "--target",
        "label",
        "--out",
        tmp_path / "out",
    )
    assert_one_line_error(result, "bag.onnx", "rai_audit_text.json")
