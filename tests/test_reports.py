"""Reports: the JSON contract, a self-contained HTML page, and hostile names shown, not run."""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from conftest import ADULT_DATA, adult_request
from markupsafe import escape

from audit import AuditRequest, run_audit, to_document, validate_document
from audit.core.check import Measurement
from audit.core.check_knowledge import in_words, load_check_info
from audit.core.findings import Evidence, finding_id
from audit.core.output import write_outputs
from audit.core.policy import Threshold
from audit.core.registry import CHECKS, CheckSkipped
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
        "calibration_error_difference",
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


def _broken_documents(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """The report broken one way at a time: each keyword kind the schema uses."""

    def broken(change: Any) -> dict[str, Any]:
        copy = json.loads(json.dumps(document))
        change(copy)
        return copy

    yield "wrong type", broken(lambda d: d["groups"][0]["metrics"].update(selection_rate="high"))
    yield "missing required", broken(lambda d: d.pop("gate"))
    yield "extra property", broken(lambda d: d["gate"].update(unexpected=1))
    yield "enum", broken(lambda d: d["findings"][0].update(severity="catastrophic"))
    yield "pattern", broken(lambda d: d.update(schema_version="2.0"))
    yield "array item", broken(lambda d: d["groups"][0].update(group=[1]))
    yield "ref'd definition", broken(lambda d: d["checks"][0].pop("id"))


def test_fast_validator_agrees_with_jsonschema(hostile_result) -> None:
    """jsonschema-rs decides the valid reports; on each broken one it agrees with jsonschema,
    which then raises its own error, with the path of the fault."""
    from audit.core.serialize import _compiled, schema

    document = to_document(hostile_result)
    assert hostile_result.findings, "the fixture must have a finding to break"
    reference = jsonschema.Draft202012Validator(schema())
    assert _compiled("report").is_valid(document) and reference.is_valid(document)
    for kind, broken in _broken_documents(document):
        assert not reference.is_valid(broken), kind
        assert not _compiled("report").is_valid(broken), kind
        with pytest.raises(jsonschema.ValidationError) as raised:
            validate_document(broken)
        with pytest.raises(jsonschema.ValidationError) as expected:
            reference.validate(broken)
        assert (raised.value.message, raised.value.absolute_path) == (
            expected.value.message,
            expected.value.absolute_path,
        ), kind


def test_document_holds_plain_json_values(hostile_result) -> None:
    """No numpy scalar reaches the document (a numpy float is a float subclass, so it would
    pass through unnoticed); one that a caller adds is still validated, by jsonschema."""
    document = to_document(hostile_result)

    def leaves(value: Any) -> Iterator[Any]:
        if isinstance(value, dict):
            for item in value.values():
                yield from leaves(item)
        elif isinstance(value, list):
            for item in value:
                yield from leaves(item)
        else:
            yield value

    kinds = {type(value) for value in leaves(document)}
    assert kinds <= {str, int, float, bool, type(None)}, kinds
    document["groups"][0]["metrics"]["selection_rate"] = np.float64(0.25)
    validate_document(document)
    document["groups"][0]["group"] = [np.float64(1.0)]  # group values are strings
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
    ids = {value for name, value in parser.attributes if name == "id"}
    for name, value in parser.attributes:
        # Links within the page (the contents, finding numbers) are fine; each must land.
        if name == "href" and value and value.startswith("#"):
            assert value[1:] in ids, f"link to a missing anchor {value!r}"
        elif name in ("src", "href"):
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


def _without_timings(value: object) -> object:
    if isinstance(value, dict):
        return {
            key: _without_timings(item)
            for key, item in value.items()
            if key not in ("seconds", "duration_seconds")
        }
    if isinstance(value, list):
        return [_without_timings(item) for item in value]
    return value


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
    # Wall-clock timings are the only fields allowed to differ (docs/report-format.md).
    assert _without_timings(first) == _without_timings(second)
    assert first["run"]["started_at"] == "2023-11-14T22:13:20+00:00"


# --- the reviewer's accountability report ---------------------------------------------------

VOID_ELEMENTS = {"br", "wbr", "meta", "hr", "img", "input", "link", "col", "source"}
SEVERITY_NAMES = ("critical", "high", "medium", "low", "info")


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    children: list[Element | str] = field(default_factory=list)

    def text(self) -> str:
        return "".join(child if isinstance(child, str) else child.text() for child in self.children)

    def words(self) -> str:
        """The text with runs of white space as one space, as a reader sees it."""
        return " ".join(self.text().split())

    def iter(self, tag: str | None = None) -> Iterator[Element]:
        for child in self.children:
            if isinstance(child, Element):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def by_id(self, wanted: str) -> Element:
        found = [element for element in self.iter() if element.attrs.get("id") == wanted]
        assert len(found) == 1, f"{len(found)} elements with id {wanted!r}"
        return found[0]

    def with_class(self, name: str) -> list[Element]:
        return [e for e in self.iter() if name in e.attrs.get("class", "").split()]

    def table(self, caption_start: str) -> Element:
        tables = [
            table
            for table in self.iter("table")
            if any(c.words().startswith(caption_start) for c in table.iter("caption"))
        ]
        assert len(tables) == 1, f"{len(tables)} tables captioned {caption_start!r}"
        return tables[0]


class _TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.root = Element("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(element)
        if tag == "br":
            self.stack[-1].children.append("\n")
        if tag not in VOID_ELEMENTS:
            self.stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID_ELEMENTS:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Element:
    builder = _TreeBuilder()
    builder.feed(html)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def _rows(table: Element) -> list[list[str]]:
    return [
        [cell.words() for cell in row.children if isinstance(cell, Element)]
        for row in table.iter("tr")
    ]


# Known selection rates: A 150 of 300 selected, B 30 of 300, C has 12 rows (too few to measure).
KNOWN_SIZES = {"A": 300, "B": 300, "C": 12}
KNOWN_SELECTED = {"A": 150, "B": 30, "C": 6}


def known_table(tmp_path: Path) -> Path:
    rng = np.random.default_rng(8)
    parts = []
    for group, size in KNOWN_SIZES.items():
        decision = np.zeros(size, dtype=int)
        decision[: KNOWN_SELECTED[group]] = 1
        parts.append(
            pd.DataFrame({"grp": group, "label": rng.integers(0, 2, size), "decision": decision})
        )
    path = tmp_path / "known.csv"
    pd.concat(parts, ignore_index=True).to_csv(path, index=False)
    return path


# The fairness and data checks: the renderer is tested on them, apart from the privacy and
# explanation checks, whose own tests cover their findings.
CORE_CHECKS = tuple(check for check in CHECKS if check.id.split(".")[0] in ("fairness", "data"))


def known_request(data: Path) -> AuditRequest:
    return AuditRequest(
        data=data,
        target="label",
        sensitive=("grp",),
        predictions="decision",
        policy_overrides={"n_boot": 60, "seed": 2},
        search_config=False,
    )


@pytest.fixture
def known(tmp_path: Path) -> tuple[Path, Any, dict[str, Any], Element]:
    data = known_table(tmp_path)
    result = run_audit(known_request(data), checks=CORE_CHECKS)
    html = render(result, ["html"])["report.html"]
    return data, result, json.loads(render(result, ["json"])["report.json"]), parse(html)


def _shipped_roles() -> dict[str, Any]:
    text = resources.files("audit").joinpath("knowledge/roles.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_summary_states_verdict_and_counts_by_severity_and_role(known) -> None:
    _, _, document, page = known
    summary = page.by_id("summary")
    assert not document["gate"]["passed"]
    assert "Gate FAILED" in summary.words()
    assert f"{len(document['gate']['violations'])} finding(s) are at or above" in summary.words()
    by_severity = {
        row[0].lower(): int(row[1]) for row in _rows(summary.table("Findings by severity"))[1:]
    }
    assert by_severity == {
        name: sum(f["severity"] == name for f in document["findings"]) for name in SEVERITY_NAMES
    }
    by_role = {
        row[0]: (int(row[1]), int(row[2]))
        for row in _rows(summary.table("Findings by accountable role"))[1:]
    }
    roles = _shipped_roles()["roles"]
    assert by_role == {
        entry["name"]: (
            sum(f["accountable"] == key for f in document["findings"]),
            sum(key in f["consulted"] for f in document["findings"]),
        )
        for key, entry in roles.items()
    }


def test_summary_names_the_most_serious_findings_in_plain_words(known) -> None:
    data, _, document, page = known
    frame = pd.read_csv(data)
    rates = frame.groupby("grp")["decision"].mean()
    findings = {f["id"]: f for f in document["findings"]}
    top_links = [link.attrs["href"][1:] for link in page.by_id("summary").with_class("ref")]
    articles = {a.attrs["id"]: a.attrs["data-finding"] for a in page.with_class("finding")}
    top = [findings[articles[anchor]] for anchor in top_links]
    assert 1 <= len(top) <= 3
    ranks = {name: rank for rank, name in enumerate(SEVERITY_NAMES)}
    assert ranks[top[0]["severity"]] == min(ranks[f["severity"]] for f in document["findings"])
    # One finding per set of groups compared: the same pair is one fact for a reader.
    pairs = [
        (tuple(f["evidence"]["feature"]), frozenset(map(tuple, f["evidence"]["groups"])))
        for f in top
    ]
    assert len(set(pairs)) == len(pairs)
    # The gap in selection rates is one finding, headed by the selection-rate ratio (the
    # policy's first metric among the most severe); the four-fifths ratio is its evidence.
    assert top[0]["check"] == "fairness.disparity"
    assert top[0]["evidence"]["metric"] == "demographic_parity_ratio"
    ratio = rates["B"] / rates["A"]
    assert abs(top[0]["evidence"]["value"] - ratio) < 1e-12
    related = {row["evidence"]["metric"]: row for row in top[0]["related_evidence"]}
    four_fifths = related["selection_rate_ratio"]
    assert four_fifths["check"] == "fairness.four_fifths"
    assert abs(four_fifths["evidence"]["value"] - ratio) < 1e-12
    sentence = (
        f"B (grp, {KNOWN_SIZES['B']} people) get the positive decision {ratio:.2f} times as "
        f"often as A (grp, {KNOWN_SIZES['A']} people)"
    )
    assert sentence in page.by_id("summary").words()
    # The too-small group is a different fact, so it is among the most serious too.
    assert any(f["check"] == "data.small_groups" for f in top)


def test_each_role_section_lists_its_findings_with_its_actions(known) -> None:
    _, _, document, page = known
    anchors = {a.attrs["data-finding"]: a.attrs["id"] for a in page.with_class("finding")}
    for key, entry in _shipped_roles()["roles"].items():
        section = page.by_id(f"role-{key}")
        assert section.tag == "section"
        heading = next(section.iter("h2"))
        assert heading.words().startswith(entry["name"])
        assert entry["duty"] in section.words()
        listed: dict[str, set[str]] = {"accountable for": set(), "consulted on": set()}
        # A to-do list per kind: one item per action, linking to its findings.
        for todo in section.with_class("finding-list"):
            kind = todo.attrs["data-kind"]
            listed[kind] |= {link.attrs["href"][1:] for link in todo.iter("a")} & set(
                anchors.values()
            )
        mine = [f for f in document["findings"] if f["accountable"] == key]
        consulted = [f for f in document["findings"] if key in f["consulted"]]
        assert listed["accountable for"] == {anchors[f["id"]] for f in mine}
        assert listed["consulted on"] == {anchors[f["id"]] for f in consulted}
        for finding in mine + consulted:
            if key in finding["actions"]:
                assert " ".join(finding["actions"][key].split()) in section.words()
        if not mine:
            assert f"No finding in this audit is the {entry['name'].lower()}’s to lead" in (
                section.words()
            )


def test_each_finding_shows_evidence_meaning_chart_and_references(known) -> None:
    data, _, document, page = known
    frame = pd.read_csv(data)
    sizes = frame.groupby("grp").size()
    articles = {a.attrs["data-finding"]: a for a in page.with_class("finding")}
    assert set(articles) == {f["id"] for f in document["findings"]}
    for finding in document["findings"]:
        article = articles[finding["id"]]
        text = article.words()
        assert finding["severity"].upper() in next(article.iter("h3")).words()
        for reference in finding["references"]:
            assert reference in text
        meaning = [
            row for row in _rows(next(article.iter("table"))) if row[0] == "What the metric means"
        ]
        assert len(meaning) == 1 and len(meaning[0][1]) > 30
        for group, n in zip(finding["evidence"]["groups"], finding["evidence"]["n"], strict=True):
            assert n == sizes[group[0]]
        if finding["check"] in ("fairness.four_fifths", "fairness.disparity"):
            table = article.table("Groups involved")
            rows = {row[0]: row for row in _rows(table)[1:]}
            assert set(rows) == {group[0] for group in finding["evidence"]["groups"]}
            assert all(rows[group][1] == f"{sizes[group]:,}" for group in rows)
            charts = list(article.iter("svg"))
            assert charts and all(chart.attrs["role"] == "img" for chart in charts)
        if finding["check"] == "fairness.four_fifths":
            rate = frame.groupby("grp")["decision"].mean()
            selection = _rows(article.table("Groups involved"))
            assert selection[1][0] == "B" and selection[1][2].startswith(f"{rate['B']:.3f}")
            assert "0.8 × highest" in article.words()
    dp_ratio = next(
        f for f in document["findings"] if f["evidence"]["metric"] == "demographic_parity_ratio"
    )
    assert "Lowest group selection rate divided by the highest" in articles[dp_ratio["id"]].words()


class _SkippingCheck:
    id = "test.skipping"
    needs = ()

    def run(self, context: Any) -> tuple:
        raise CheckSkipped("needs a model's scores, and this audit has decisions only")


class _CrashingCheck:
    id = "test.crashing"
    needs = ()

    def run(self, context: Any) -> tuple:
        raise ZeroDivisionError("deliberate crash in a check")


def test_methods_and_limits_show_sizes_uncertainty_and_checks_not_run(tmp_path: Path) -> None:
    data = known_table(tmp_path)
    result = run_audit(
        known_request(data), checks=(*CORE_CHECKS, _SkippingCheck(), _CrashingCheck())
    )
    page = parse(render(result, ["html"])["report.html"])
    methods = page.by_id("methods")
    text = methods.words()
    assert "95% percentile-bootstrap interval from 60 replicates (seed 2)" in text
    assert "can be biased" in text and "maximum or minimum" in text
    sizes = _rows(methods.table("Sample sizes per slice"))
    assert sizes[1] == ["grp", "3", "2", "1", str(min(KNOWN_SIZES.values()))]
    small = _rows(methods.table("Groups with fewer than 30 rows"))
    assert small[1:] == [["grp", "C", str(KNOWN_SIZES["C"])]]
    checks = {
        row[0].split()[-1]: row for row in _rows(methods.table("Checks and their status"))[1:]
    }
    assert checks["test.skipping"][1:] == [
        "SKIPPED",
        "0",
        "needs a model's scores, and this audit has decisions only",
    ]
    assert checks["test.crashing"][1] == "CRASHED"
    assert "deliberate crash in a check" in checks["test.crashing"][3]
    assert all(checks[check.id][1] == "ran" for check in CORE_CHECKS)
    assert (
        f"{len(CORE_CHECKS)} of {len(CORE_CHECKS) + 2} checks ran to the end; 1 skipped, 1 crashed"
        in text
    )
    # Without scores ROC AUC has no value: the reason is given once, with the groups it hits.
    undefined = _rows(methods.table("Metrics left undefined"))
    assert [
        "ROC AUC",
        "the audit has no scores, only decisions (pass --scores)",
        "2",
        "A (grp); B (grp)",
    ] in undefined
    assert "Audit INCOMPLETE" in page.by_id("summary").words()


def test_metrics_undefined_for_too_few_rows_share_one_row_naming_each_group() -> None:
    """On the bundled Adult file, the groups with fewer than 30 positive labels have no false
    negative rate: one row for them all, each group with its own count, counted here."""
    fairness = tuple(check for check in CHECKS if check.id.startswith(("fairness.", "data.")))
    result = run_audit(adult_request(), checks=fairness)
    page = parse(render(result, ["html"])["report.html"])
    rows = _rows(page.by_id("methods").table("Metrics left undefined"))
    (row,) = [row for row in rows if row[0] == "false negative rate"]
    frame = pd.read_csv(ADULT_DATA)
    positive = frame["income"] == ">50K"
    expected = []
    for columns in (["sex"], ["race"], ["sex", "race"]):
        for group, positives in positive.groupby([frame[c] for c in columns]).sum().items():
            names = group if isinstance(group, tuple) else (group,)
            if positives < 30:
                expected.append(
                    f"{' / '.join(names)} ({' × '.join(columns)}): {positives} positive labels"
                )
    assert len(expected) >= 3
    assert row[1] == "insufficient data: fewer than min_group_size (30)"
    assert row[2] == str(len(expected))
    assert sorted(row[3].split("; ")) == sorted(expected)


def _flat_config(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Dotted keys to leaf values; an empty table is a leaf."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, dict) and value:
            flat.update(_flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def test_audit_trail_and_sign_off(known) -> None:
    data, _, document, page = known
    trail = page.by_id("trail").words()
    assert hashlib.sha256(data.read_bytes()).hexdigest() in trail
    for name, version in document["run"]["versions"].items():
        assert f"{name} {version}" in trail
    rows = {row[0]: row[1] for row in _rows(page.by_id("trail").table("How this report"))}
    assert rows["Seed"] == str(document["run"]["seed"]) == "2"
    assert rows["Data SHA-256"] == hashlib.sha256(data.read_bytes()).hexdigest()
    # The configuration as a table of dotted settings, those changed from the defaults first.
    shown = _rows(page.by_id("trail").table("The configuration the audit ran with"))[1:]
    expected = _flat_config(document["run"]["config"])
    assert {key: value for key, value, _ in shown} == {
        key: value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        for key, value in expected.items()
    }
    changed = [row[0] for row in shown if row[2] != "same"]
    assert shown[: len(changed)] == [row for row in shown if row[2] != "same"]
    assert "seed" in changed and dict((k, d) for k, _, d in shown)["seed"] == "0"
    signoff = page.by_id("signoff")
    roles = _shipped_roles()["roles"]
    blocks = signoff.with_class("signature")
    assert [next(block.iter("h3")).words() for block in blocks] == [
        e["name"] for e in roles.values()
    ]
    for block in blocks:
        fields = [row[0] for row in _rows(next(block.iter("table")))]
        assert fields == [
            "Name",
            "Role or position",
            "Date",
            "Decision",
            "Conditions or comments",
            "Signature",
        ]
    assert hashlib.sha256(data.read_bytes()).hexdigest() in signoff.words()


def test_report_structure_is_accessible(known) -> None:
    _, _, document, page = known
    headings = [int(e.tag[1]) for e in page.iter() if re.fullmatch(r"h[1-6]", e.tag)]
    assert headings[0] == 1 and headings.count(1) == 1
    assert all(later <= earlier + 1 for earlier, later in itertools.pairwise(headings))
    for table in page.iter("table"):
        assert len(list(table.iter("caption"))) == 1
        for cell in table.iter("th"):
            assert cell.attrs.get("scope") in ("row", "col")
    # Severity is always written out; the colour of a badge only repeats the word.
    badges = page.with_class("severity")
    assert badges and all(badge.words().lower() in SEVERITY_NAMES for badge in badges)
    assert len(badges) >= len(document["findings"])
    html = page.by_id("summary")
    assert html.attrs["class"] == "major"
    assert page.by_id("role-developer").tag == "section"


def test_long_names_wrap_and_stay_escaped() -> None:
    from reports.html_report import environment

    name = "<b>" + "x" * 40 + "</b>/Q&A"
    out = environment().from_string("{{ name | breakable }}").render(name=name)
    assert "<b>" not in out and "&lt;b&gt;" in out
    assert out.count("<wbr>") >= 2
    assert out.replace("<wbr>", "") == str(escape(name))


PLUGIN_KNOWLEDGE = """
description = "A plugin's custom score per slice against a maximum."
title = "Custom score for {feature} is {value} ({bound} {threshold})"
recommendation = "Look into the custom score."
advice = "Look into the custom score."
subject = "model"
severity = { uncertain = "medium", clear = "high", critical = "critical" }

[accountability]
accountable = "regulator"
consulted = ["developer"]
references = ["Internal control C-7"]

[accountability.actions]
regulator = "Ask for the custom evidence file."
"""


class PluginCheck:
    """A check this report has no wording for, owned by the regulator, with one sample
    size for two groups (not one size per group)."""

    id = "plugin.custom"
    needs = ()
    knowledge = load_check_info("plugin.custom", PLUGIN_KNOWLEDGE)

    def run(self, context: Any) -> tuple[Measurement, ...]:
        evidence = Evidence(
            metric="custom_score",
            value=0.42,
            interval=(0.40, 0.44),
            threshold=0.3,
            bound="max",
            feature=("grp",),
            groups=(("A",), ("B",)),
            n=(250,),
            details={"attack_accuracy": np.float64(0.7125), "rounds": np.int64(5), "notes": []},
        )
        return (
            Measurement(
                key=("grp",),
                evidence=evidence,
                threshold=Threshold(max=0.3),
                words={"feature": "grp"},
            ),
        )


def test_a_check_without_wording_keeps_its_title_details_and_owner(tmp_path: Path) -> None:
    data = known_table(tmp_path)
    result = run_audit(known_request(data), checks=(*CORE_CHECKS, PluginCheck()))
    page = parse(render(result, ["html"])["report.html"])
    article = next(
        a
        for a in page.with_class("finding")
        if a.attrs["data-finding"] == finding_id("plugin.custom", "grp")
    )
    assert not article.with_class("plain")  # its title already says it
    facts = {row[0]: row[1] for row in _rows(article.table("Facts of finding"))}
    assert facts["Details"] == "attack accuracy: 0.713; rounds: 5"
    assert "Based on 250 rows." in facts["Result"]
    assert "Internal control C-7" in article.words()
    # Group sizes come from the groups themselves, not from the check's sample size.
    groups = {row[0]: row[1] for row in _rows(article.table("Groups involved"))[1:]}
    assert groups == {"A": f"{KNOWN_SIZES['A']}", "B": f"{KNOWN_SIZES['B']}"}
    regulator = page.by_id("role-regulator")
    assert "Ask for the custom evidence file." in regulator.words()
    assert "Accountable for (1)" in regulator.words()


def test_every_metric_name_explains_itself(known) -> None:
    """Metric names in the measurements and thresholds carry their meaning as a tooltip."""
    _, _, document, page = known
    terms = list(page.by_id("measurements").with_class("term")) + list(
        page.by_id("methods").with_class("term")
    )
    named = {term.words(): term.attrs.get("title", "") for term in terms}
    for metric in document["groups"][0]["metrics"]:
        assert named.get(in_words(metric)), metric
    for disparity in document["disparities"]:
        assert named.get(in_words(disparity["metric"])), disparity["metric"]
