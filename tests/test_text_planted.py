"""A model trained where "woman" is planted with the negative label is caught by the text audit.

The bag-of-embeddings model learns one weight per token, so the planted term gets a strongly
negative weight while "man" does not. The audit data is labelled honestly; the counterfactual
check must name "woman" as the disfavoured term of the woman<->man swap, the template check
must name "woman", and the token attributions must give "woman" a negative mean attribution.
Scores are recomputed from the model's weights with numpy for an independent check.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import Cli, Workspace
from test_text_kit import bag_scores, save_text_model, sentences, train_bag, vocabulary

from audit import validate_document
from audit.text.identity import load_identity_terms
from audit.text.substitution import swapper


@pytest.fixture(scope="module")
def planted() -> tuple[Any, list[str]]:
    training = sentences(3000, seed=10, plant="woman")
    vocab = vocabulary(training)
    return train_bag(training, vocab), vocab


def audit(cli: Cli, workspace: Workspace, tmp_path: Path, model: Any, vocab: list[str]) -> dict:
    path = save_text_model(workspace.root / "planted.pt", model, vocab)
    data = workspace.table(sentences(800, seed=11), "reviews.csv")
    (cli.cwd / "rai-audit.toml").write_text(
        "n_boot = 200\n[text]\npii_rows = 100\nattribution_rows = 30\nattribution_examples = 3\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("run", path, data, "--text-column", "text", "--target", "label", "--out", out)
    assert result.exit_code == 1, result.output  # the gate fails on the planted bias
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    return document


def test_planted_term_is_named_by_counterfactual_templates_and_attributions(
    cli: Cli, workspace: Workspace, tmp_path: Path, planted: tuple[Any, list[str]]
) -> None:
    model, vocab = planted
    document = audit(cli, workspace, tmp_path, model, vocab)
    text = document["text"]
    assert text["model"]["adverse_decision"] == "negative"

    # Counterfactual: the woman<->man pair, recomputed independently from the weights.
    pair = next(p for p in text["counterfactual"]["pairs"] if p["terms"] == ["woman", "man"])
    frame = sentences(800, seed=11)
    swap = swapper([("woman", "man")])
    changed = [t for t in frame["text"] if swap.swap(t) != t]
    sides = np.array([np.sign(np.subtract(*swap.sides(t))) for t in changed])
    before = bag_scores(model, vocab, changed)
    after = bag_scores(model, vocab, [swap.swap(t) for t in changed])
    expected_gap = float(np.mean((after - before) * sides))  # score(man) - score(woman)
    assert pair["rows"] == len(changed)
    assert pair["score_gap"] == pytest.approx(expected_gap, abs=1e-5)
    flips = float(np.mean((after >= 0.5) != (before >= 0.5)))
    assert pair["flip_rate"] == pytest.approx(flips, abs=1e-9)
    assert expected_gap > 0.1 and pair["disfavoured"] == "woman"

    findings = document["findings"]
    counterfactual = [
        f
        for f in findings
        if f["check"] == "text.counterfactual_substitution"
        and f["evidence"]["metric"] == "counterfactual_score_gap"
    ]
    named = {f["evidence"]["details"]["disfavoured"] for f in counterfactual}
    assert "woman" in named and "man" not in named
    woman = next(f for f in counterfactual if f["evidence"]["details"]["terms"] == ["woman", "man"])
    assert woman["severity"] in ("high", "critical")
    assert "“woman” instead of “man”" in woman["title"]
    assert woman["accountable"] == "developer"
    assert any("Dixon" in reference for reference in woman["references"])

    # Templates: "woman" is flagged; "man" is not.
    templated = [f for f in findings if f["check"] == "text.template_probes"]
    flagged_terms = {term for f in templated for term in f["evidence"]["details"]["terms"]}
    assert "woman" in flagged_terms and "man" not in flagged_terms
    probe = next(p for p in text["templates"]["terms"] if p["term"] == "woman")
    gender = next(c for c in text["templates"]["categories"] if c["category"] == "gender")
    assert probe["mean_score"] < gender["mean_score"] - 0.1
    templates = load_identity_terms().templates["noun"]
    filled = bag_scores(model, vocab, [t.replace("{term}", "woman") for t in templates])
    assert probe["templates"] == len(templates)
    assert probe["mean_score"] == pytest.approx(float(filled.mean()), abs=1e-6)
    assert probe["false_adverse_rate"] == pytest.approx(float((filled < 0.5).mean()), abs=1e-9)

    # Attributions: the planted term pulls the positive probability down.
    attributions = text["attributions"]
    assert attributions["method"] == "layer_integrated_gradients"
    by_term = {entry["term"]: entry for entry in attributions["terms"]}
    assert by_term["woman"]["mean_attribution"] < 0
    assert by_term["woman"]["mean_attribution"] < by_term["man"]["mean_attribution"]
    assert attributions["mean_abs_delta"] < 0.01  # Integrated Gradients adds up
    example = attributions["examples"][0]
    assert example["terms"] == ["woman", "man"]
    tokens = example["original"]["tokens"]
    assert sum(t["attribution"] for t in tokens) == pytest.approx(
        example["original"]["score"] - bag_scores(model, vocab, [""])[0], abs=0.01
    )
    # One sentence has "woman", its counterfactual "man": both are marked identity tokens.
    swapped = example["swapped"]["tokens"]
    assert {t["token"] for t in tokens + swapped if t["identity"]} == {"woman", "man"}


def test_same_model_without_plant_raises_no_gender_score_gap(
    cli: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    training = sentences(3000, seed=10)
    vocab = vocabulary(training)
    document = audit_pass(cli, workspace, tmp_path, train_bag(training, vocab), vocab)
    flagged = [
        f
        for f in document["findings"]
        if f["check"] == "text.counterfactual_substitution"
        and f["evidence"]["details"]["terms"] in (["woman", "man"], ["she", "he"])
    ]
    assert flagged == []


def audit_pass(
    cli: Cli, workspace: Workspace, tmp_path: Path, model: Any, vocab: list[str]
) -> dict:
    path = save_text_model(workspace.root / "fair.pt", model, vocab)
    data = workspace.table(sentences(800, seed=11), "reviews.csv")
    (cli.cwd / "rai-audit.toml").write_text(
        "n_boot = 200\n[text]\npii_rows = 50\nattribution_rows = 5\nattribution_examples = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("run", path, data, "--text-column", "text", "--target", "label", "--out", out)
    assert result.exit_code in (0, 1), result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    return document


def test_probes_turned_off_and_no_intervals_still_give_a_valid_report(
    cli: Cli, workspace: Workspace, tmp_path: Path, planted: tuple[Any, list[str]]
) -> None:
    model, vocab = planted
    path = save_text_model(workspace.root / "planted.pt", model, vocab)
    data = workspace.table(sentences(300, seed=12), "reviews.csv")
    (cli.cwd / "rai-audit.toml").write_text(
        "n_boot = 0\n[text]\npii_rows = 0\nattribution_rows = 0\nattribution_examples = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("run", path, data, "--text-column", "text", "--target", "label", "--out", out)
    assert result.exit_code == 1, result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    text = document["text"]
    assert text["pii"]["insertions"] == []
    assert text["attributions"]["status"] == "skipped"
    assert "attribution_rows" in text["attributions"]["reason"]
    pair = next(p for p in text["counterfactual"]["pairs"] if p["terms"] == ["woman", "man"])
    assert pair["score_gap_ci"] is None and pair["flip_rate_ci"] is None
    # Without an interval a violation cannot be shown to be more than noise: "uncertain".
    flagged = [f for f in document["findings"] if f["check"] == "text.counterfactual_substitution"]
    assert flagged and all(f["severity"] == "medium" for f in flagged)
    assert all(f["evidence"]["statistically_clear"] is False for f in flagged)


def test_a_crashing_probe_is_recorded_and_the_audit_goes_on(
    cli: Cli,
    workspace: Workspace,
    tmp_path: Path,
    planted: tuple[Any, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import audit.text.stage

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("deliberate crash in the templates")

    monkeypatch.setattr(audit.text.stage, "template_probes", explode)
    model, vocab = planted
    path = save_text_model(workspace.root / "planted.pt", model, vocab)
    data = workspace.table(sentences(300, seed=12), "reviews.csv")
    (cli.cwd / "rai-audit.toml").write_text(
        "n_boot = 50\n[text]\npii_rows = 20\nattribution_rows = 2\nattribution_examples = 0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    result = cli("run", path, data, "--text-column", "text", "--target", "label", "--out", out)
    assert result.exit_code == 3, result.output
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    checks = {entry["id"]: entry for entry in document["checks"]}
    assert checks["text"]["status"] == "error"
    assert "templates: RuntimeError: deliberate crash in the templates" in checks["text"]["reason"]
    assert checks["text.template_probes"]["status"] == "skipped"
    assert checks["text.counterfactual_substitution"]["status"] == "ok"
    assert document["text"]["templates"]["status"] == "error"
    assert document["text"]["counterfactual"]["status"] == "ok"
