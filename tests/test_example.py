"""The bundled Adult example: the README's demo audit, end to end through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from audit import validate_document
from audit.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "adult"


@pytest.mark.slow
def test_demo_audit_writes_reports_and_fails_the_gate(tmp_path: Path) -> None:
    out = tmp_path / "audit-out"
    model, data = EXAMPLE / "model.pt", EXAMPLE / "test.csv.gz"
    before = (model.read_bytes(), data.read_bytes())
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(model),
            str(data),
            "--target",
            "income",
            "--sensitive",
            "sex,race",
            "--out",
            str(out),
            "--n-boot",
            "200",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "Gate failed" in result.output
    assert (model.read_bytes(), data.read_bytes()) == before
    document = json.loads((out / "report.json").read_text("utf-8"))
    validate_document(document)
    assert (out / "report.html").stat().st_size > 10_000
    assert document["run"]["model"]["kind"] == "torchscript"
    assert document["run"]["model"]["feature_source"] == "metadata"
    assert document["run"]["model"]["positive_label"] == ">50K"
    assert document["run"]["data"]["rows"] == 16281

    # The model's accuracy, recombined from the sex groups, is the one train.py reported.
    expected = json.loads((EXAMPLE / "metrics.json").read_text("utf-8"))["test_accuracy"]
    sex_groups = [g for g in document["groups"] if g["feature"] == ["sex"]]
    correct = sum(g["metrics"]["accuracy"] * g["n"] for g in sex_groups)
    assert abs(correct / 16281 - expected) < 1e-9

    flagged = {
        (tuple(f["evidence"]["feature"]), f["evidence"]["metric"])
        for f in document["findings"]
        if f["check"] == "fairness.disparity"
    }
    assert (("sex",), "demographic_parity_ratio") in flagged
    assert any(v["severity"] in ("high", "critical") for v in document["gate"]["violations"])
