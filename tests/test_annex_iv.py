"""report.annex-iv.md: the EU AI Act Annex IV draft, its figures against an independent
computation from the raw rows, its sections against templates/annex_iv.toml, and its
clause index against the findings' references."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from audit import AuditRequest, run_audit
from audit.core.findings import Severity
from audit.core.result import AuditResult
from reports.annex_iv import AnnexIvFormatter, sections

GROUPS = ("north", "south", "east|west")  # a pipe must not split a table cell


def _table(tmp_path: Path, planted_gap: float) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(5)
    rows = 6_000
    region = rng.choice(GROUPS, size=rows, p=[0.5, 0.3, 0.2])
    label = rng.integers(0, 2, size=rows)
    lift = planted_gap * (region == "north")
    decision = (rng.uniform(size=rows) < 0.4 + 0.4 * label + lift).astype(int)
    frame = pd.DataFrame({"region": region, "label": label, "decision": decision})
    path = tmp_path / "decisions.csv"
    frame.to_csv(path, index=False)
    return path, frame


def _audit(path: Path) -> AuditResult:
    request = AuditRequest(
        data=path,
        target="label",
        sensitive=("region",),
        predictions="decision",
        policy_overrides={"n_boot": 200},
        search_config=False,
    )
    return run_audit(request)


def _section(text: str, title: str) -> str:
    """The body of the numbered section whose heading contains ``title``."""
    start = text.index(f". {title}")
    end = text.find("\n## ", start)
    return text[start : end if end != -1 else len(text)]


def _cell(group: str) -> str:
    return "`" + group.replace("|", "\\|") + "`"


def test_figures_equal_an_independent_computation(tmp_path: Path) -> None:
    path, frame = _table(tmp_path, planted_gap=0.3)
    text = AnnexIvFormatter().render(_audit(path))

    data = _section(text, "Data and data governance")
    assert f"{len(frame):,} rows" in data
    accuracy = _section(text, "Accuracy, also for groups of persons")
    for group, rows in frame.groupby("region"):
        share = f"{len(rows) / len(frame):.1%}"
        row = f"| `region` | {_cell(group)} | {len(rows):,} | {share} | {rows['label'].sum():,} |"
        assert row in data
        positives = rows[rows["label"] == 1]
        negatives = rows[rows["label"] == 0]
        expected = (
            (rows["decision"] == rows["label"]).mean(),
            positives["decision"].mean(),
            negatives["decision"].mean(),
        )
        line = next(
            line for line in accuracy.splitlines() if line.startswith(f"| {_cell(group)} |")
        )
        values = [float(v) for v in re.findall(r"\| (\d\.\d{3}) \[", line)]
        assert values == pytest.approx(expected, abs=5e-4), group

    rates = frame.groupby("region")["decision"].mean()
    bias = _section(text, "Examination of possible biases")
    gap = f"| `region` | demographic parity difference | {rates.max() - rates.min():.3f} |"
    assert gap in bias
    assert f"| demographic parity ratio | {rates.min() / rates.max():.3f} |" in bias
    assert "violated" in bias


def test_sections_follow_the_data_file_and_findings_their_clauses(tmp_path: Path) -> None:
    path, _ = _table(tmp_path, planted_gap=0.3)
    result = _audit(path)
    text = AnnexIvFormatter().render(result)
    headings = re.findall(r"^## \d+\. ([^(\n]+?)(?: \(.*)?$", text, flags=re.MULTILINE)
    assert headings[: len(sections())] == [section.title for section in sections()]
    assert headings[len(sections()) :] == [
        "Validation and testing log",
        "Clauses cited by the findings",
    ]
    assert result.findings
    for section in sections():
        body = _section(text, section.title)
        for finding in result.findings:
            listed = f"`{finding.id}`" in body
            assert listed == section.holds(finding), (section.id, finding.id)
        assert "`TODO(provider):`" in body
    index = _section(text, "Clauses cited by the findings").splitlines()
    rows = {
        line.split(" | ")[0].removeprefix("| "): line for line in index if line.startswith("| ")
    }
    for finding in result.findings:
        clauses = [
            r.removeprefix("EU AI Act ") for r in finding.references if r.startswith("EU AI Act ")
        ]
        for clause in clauses:
            assert f"`{finding.id}`" in rows[clause], clause
        listed = [clause for clause, row in rows.items() if f"`{finding.id}`" in row]
        assert sorted(listed) == sorted(clauses)


def test_a_fair_model_gets_no_bias_findings_and_says_so(tmp_path: Path) -> None:
    path, _ = _table(tmp_path, planted_gap=0.0)
    result = _audit(path)
    text = AnnexIvFormatter().render(result)
    assert not [f for f in result.findings if f.severity.rank >= Severity.MEDIUM.rank]
    robustness = _section(text, "Robustness and cybersecurity")
    assert "raised no finding on robustness" in robustness
    assert "Gate:** passed" in text


def test_the_cli_writes_it_beside_the_other_formats(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from audit.cli import app

    path, _ = _table(tmp_path, planted_gap=0.3)
    out = tmp_path / "out"
    args = ["run", str(path), "--target", "label", "--sensitive", "region"]
    args += ["--predictions", "decision", "--n-boot", "100", "--out", str(out)]
    outcome = CliRunner().invoke(app, [*args, "--format", "annex-iv,json"])
    assert outcome.exit_code == 1, outcome.output  # the planted gap fails the gate
    assert (
        (out / "report.annex-iv.md")
        .read_text("utf-8")
        .startswith("# Technical documentation, EU AI Act Annex IV")
    )


def test_robustness_figures_are_those_of_the_robustness_section(tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    path, frame = _table(tmp_path, planted_gap=0.3)
    frame["x"] = frame["label"] + np.random.default_rng(1).normal(0, 1, len(frame))
    frame.to_csv(path, index=False)
    model = LogisticRegression().fit(frame[["x"]], frame["label"])
    request = AuditRequest(
        data=path,
        target="label",
        sensitive=("region",),
        model=model,
        policy_overrides={"n_boot": 200},
        search_config=False,
    )
    result = run_audit(request)
    assert result.robustness is not None and result.robustness.stability is not None
    text = _section(AnnexIvFormatter().render(result), "Robustness and cybersecurity")
    rates = result.robustness.stability.flip_rates
    assert rates
    for row in rates:
        assert row.value is not None and row.ci is not None
        value = f"{row.value:.3f} [{row.ci[0]:.3f}, {row.ci[1]:.3f}]"
        assert f"| {_cell(row.group)} | {row.n:,} | {value} |" in text
