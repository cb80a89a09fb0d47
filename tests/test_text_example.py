"""The bundled sentiment example: the README's demo command, end to end through the CLI.

The sampling of the slow parts (PII insertion, attributions) is turned down with a policy
file in the scratch working directory so that the test takes seconds; every part still runs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import Cli

from audit import validate_document

# The bundled sentiment demo, end to end.
pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "rt-polarity"


def test_demo_command_audits_the_bundled_model(cli: Cli, tmp_path: Path) -> None:
    (cli.cwd / "rai-audit.toml").write_text(
        "n_boot = 100\n[text]\npii_rows = 100\nattribution_rows = 8\nattribution_examples = 2\n",
        encoding="utf-8",
    )
    model, data = EXAMPLE / "model.pt", EXAMPLE / "test.csv.gz"
    before = (model.read_bytes(), data.read_bytes())
    out = tmp_path / "out"
    result = cli("run", model, data, "--text-column", "text", "--target", "label", "--out", out)
    assert result.exit_code in (0, 1), result.output
    assert (model.read_bytes(), data.read_bytes()) == before
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    assert (out / "report.html").stat().st_size > 10_000
    checks = {entry["id"]: entry for entry in document["checks"]}
    for check in (
        "text.counterfactual_substitution",
        "text.template_probes",
        "text.subgroup_auc",
        "text.pii_in_text",
    ):
        assert checks[check]["status"] == "ok", checks[check]
    # Without --sensitive the tabular group checks are skipped, not silently "ok".
    assert checks["fairness.disparity"]["status"] == "skipped"
    assert document["groups"] == [] and document["run"]["data"]["sensitive"] == []

    text = document["text"]
    metrics = json.loads((EXAMPLE / "metrics.json").read_text("utf-8"))
    test = pd.read_csv(data)
    assert text["rows"] == len(test) == metrics["n_test"]
    # The accuracy train.py measured, reproduced by the audit from the archive alone.
    assert text["performance"]["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)
    assert text["performance"]["positives"] == int((test["label"] == "positive").sum())
    assert text["model"]["vocab_size"] == metrics["vocab_size"]
    for part in ("counterfactual", "templates", "subgroup_auc", "pii", "attributions"):
        assert text[part]["status"] == "ok", (part, text[part]["reason"])
    assert text["attributions"]["method"] == "layer_integrated_gradients"
    gender = [g for g in text["identity"]["groups"] if g["category"] == "gender"]
    female = next(g for g in gender if g["group"] == "female")
    mentions = test["text"].str.contains(r"(?<!\w)(?:she|her|woman|women)(?!\w)", case=False)
    assert female["rows"] >= int(mentions.sum())


def test_model_file_stays_small_and_data_matches_its_provenance() -> None:
    assert (EXAMPLE / "model.pt").stat().st_size < 3 * 2**20
    provenance = (EXAMPLE / "data" / "PROVENANCE.md").read_text("utf-8")
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        raw = gzip.decompress((EXAMPLE / "data" / f"{name}.gz").read_bytes())
        assert hashlib.sha256(raw).hexdigest() in provenance
        assert len(raw.decode("cp1252").splitlines()) == 5331
        if SHARED.is_dir():
            assert raw == (SHARED / name).read_bytes()
