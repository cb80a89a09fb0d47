"""Reports: the JSON contract, a self-contained HTML page, and hostile names shown, not run."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest

from audit import AuditRequest, run_audit, to_document, validate_document
from audit.output import write_outputs
from reports import available_formatters, render

HOSTILE_COLUMN = "<script>alert('col')</script>"
HOSTILE_GROUPS = ["<img src=x onerror=alert(1)>", 'Q"uote & <b>bold</b>']


def _predictions_table(tmp_path: Path, rows: int = 600, seed: int = 3) -> Path:
    rng = np.random.default_rng(seed)
    group = rng.choice(HOSTILE_GROUPS, size=rows)
    label = rng.integers(0, 2, size=rows)
    score = np.clip(
        0.3 * label + 0.35 * (group == HOSTILE_GROUPS[0]) + rng.uniform(0, 0.5, rows), 0, 1
    )
    frame = pd.DataFrame(
        {
            HOSTILE_COLUMN: group,
            "label": label,
            "decision": (score >= 0.5).astype(int),
            "score": score,
        }
    )
    path = tmp_path / "hostile.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.fixture
def hostile_result(tmp_path: Path):
    data = _predictions_table(tmp_path)
    request = AuditRequest(
        data=data,
        target="label",
        sensitive=(HOSTILE_COLUMN,),
        predictions="decision",
        scores="score",
        policy_overrides={"n_boot": 100},
        search_config=False,
    )
    return run_audit(request)


def test_json_report_validates_against_schema_and_keeps_names(hostile_result) -> None:
    document = json.loads(render(hostile_result, ["json"])["report.json"])
    validate_document(document)
    assert document["schema_version"].startswith("1.")
    assert document["tool"]["name"] == "rai-audit"
    groups = {tuple(group["group"]) for group in document["groups"]}
    assert groups == {(name,) for name in HOSTILE_GROUPS}
    assert all(group["feature"] == [HOSTILE_COLUMN] for group in document["groups"])
    metrics = {d["metric"] for d in document["disparities"]}
    assert metrics == {
        "demographic_parity_difference",
        "demographic_parity_ratio",
        "equalized_odds_difference",
        "equalized_odds_ratio",
        "equal_opportunity_difference",
    }


def test_schema_rejects_a_broken_document(hostile_result) -> None:
    document = to_document(hostile_result)
    document["groups"][0]["metrics"]["selection_rate"] = "high"
    with pytest.raises(jsonschema.ValidationError):
        validate_document(document)
    document = to_document(hostile_result)
    del document["gate"]
    with pytest.raises(jsonschema.ValidationError):
        validate_document(document)


class _TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes.extend(attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_html_escapes_hostile_column_and_group_names(hostile_result) -> None:
    html = render(hostile_result, ["html"])["report.html"]
    parser = _TagCollector()
    parser.feed(html)
    assert "script" not in parser.tags
    assert "img" not in parser.tags and "b" not in parser.tags
    assert not any(name.startswith("on") for name, _ in parser.attributes)
    text = "".join(parser.text)
    # Shown as text, exactly as written in the data.
    assert HOSTILE_COLUMN in text
    for group in HOSTILE_GROUPS:
        assert group in text
    assert "&lt;script&gt;" in html


def test_html_is_self_contained(hostile_result) -> None:
    html = render(hostile_result, ["html"])["report.html"]
    parser = _TagCollector()
    parser.feed(html)
    assert {"script", "link", "iframe", "img", "object", "embed"}.isdisjoint(parser.tags)
    for name, value in parser.attributes:
        if name in ("src", "href"):
            pytest.fail(f"external reference {name}={value!r}")
    # The only URL is the SVG namespace, which is an identifier, not a request.
    urls = set(re.findall(r"https?://[^\s\"'<>]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}
    assert "<svg" in html and "<style>" in html


def test_html_shows_gate_insufficient_groups_and_trail(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = 400
    frame = pd.DataFrame(
        {
            "sex": np.where(np.arange(rows) < 10, "tiny", rng.choice(["a", "b"], rows)),
            "label": rng.integers(0, 2, rows),
            "decision": rng.integers(0, 2, rows),
        }
    )
    data = tmp_path / "small.csv"
    frame.to_csv(data, index=False)
    result = run_audit(
        AuditRequest(
            data=data,
            target="label",
            sensitive=("sex",),
            predictions="decision",
            policy_overrides={"n_boot": 50},
            search_config=False,
        )
    )
    html = render(result, ["html"])["report.html"]
    assert "insufficient data" in html
    assert ("Gate PASSED" in html) == result.gate.passed
    assert result.run.data.file.sha256 in html
    tiny = next(group for group in result.groups if group.group == ("tiny",))
    assert tiny.status.value == "insufficient_data" and tiny.metrics == {}


def test_formatters_are_plugins() -> None:
    formatters = available_formatters()
    assert {"json", "html"} <= set(formatters)
    assert formatters["json"]().extension == "json"


def test_written_reports_are_complete_and_leave_no_temporary_files(
    hostile_result, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    written = write_outputs(out, render(hostile_result, ["json", "html"]), [])
    assert sorted(path.name for path in out.iterdir()) == ["report.html", "report.json"]
    assert written == [out / "report.json", out / "report.html"]
    validate_document(json.loads((out / "report.json").read_text("utf-8")))


def test_same_inputs_give_the_same_report(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    data = _predictions_table(tmp_path, seed=11)
    request = AuditRequest(
        data=data,
        target="label",
        sensitive=(HOSTILE_COLUMN,),
        predictions="decision",
        scores="score",
        policy_overrides={"n_boot": 100, "seed": 4},
        search_config=False,
    )
    first, second = to_document(run_audit(request)), to_document(run_audit(request))
    for document in (first, second):
        del document["run"]["duration_seconds"]
    assert first == second
    assert first["run"]["started_at"] == "2023-11-14T22:13:20+00:00"
