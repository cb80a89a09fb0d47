"""The CI and documentation outputs: report.md, report.junit.xml, report.sarif and
report.model-card.md, each checked against a schema or a strict parser, against the JSON
report's numbers, and with hostile column and group names.

Schemas are committed under tests/schemas/ (see PROVENANCE.md there); nothing is downloaded.
Markdown is parsed with markdown-it-py (CommonMark plus GFM tables), which rich brings in.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import numpy as np
import pandas as pd
import pytest
import xmlschema
from conftest import shipped_check_files
from markdown_it import MarkdownIt
from markdown_it.token import Token
from typer.testing import CliRunner

from audit import AuditRequest, run_audit
from audit.cli import app
from audit.core.check_knowledge import check_table
from audit.core.result import AuditResult, CheckRun, CheckStatus, GroupStatus
from reports import available_formatters, render
from reports.junit_report import JunitFormatter
from reports.markdown_report import (
    COMMENT_BYTES,
    MarkdownFormatter,
    md_code,
    md_text,
)
from reports.model_card import ModelCardFormatter
from reports.sarif_report import SarifFormatter

REPO = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
ADULT = REPO / "examples" / "adult"
CI_CONFIG = REPO / "examples" / "ci" / "rai-audit.toml"
ALL_FORMATS = "json,html,markdown,junit,sarif,model-card"
FILES = {
    "json": "report.json",
    "html": "report.html",
    "markdown": "report.md",
    "junit": "report.junit.xml",
    "sarif": "report.sarif",
    "model-card": "report.model-card.md",
}
# SARIF levels by severity, as the issue asks: critical/high error, medium warning, else note.
SARIF_LEVEL = {
    "critical": "error",
    "high": "error",
    "medium": "warning",
    "low": "note",
    "info": "note",
}
SEVERITY_RANK = {"info": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
MODEL_CARD_SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
    "Audit trail",
)

# Names that break naive Markdown, XML or JSON: pipes, code fences, a newline, a link, a
# mention, an issue reference, HTML, an entity, math, emphasis, and a control character.
HOSTILE_COLUMN = "sex | <b>x</b> `tick` [l](http://evil.example) @admin #1"
HOSTILE_GROUPS = (
    "a|b||c",
    "``code` span",
    "line\nbreak",
    "www.evil.example and https://evil.example/x",
    "<script>alert(1)</script> &amp;",
    "*bold* _u_ \\ $x$ ~~s~~",
    "ctrl\x01char",
)


# --- helpers ---------------------------------------------------------------------------------


def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark").enable("table")


def _one_line(text: str) -> str:
    """What the reports show of a name: line breaks as a space, control characters as U+FFFD."""
    text = re.sub(r"[\t\n\r\v\f]+", " ", text)
    return re.sub(r"[\x00-\x08\x0e-\x1f\x7f]", "\ufffd", text)


def _raw_cells(line: str) -> list[str]:
    """The cells of a GFM table row, split at pipes that no backslash escapes."""
    body = line.strip()
    body = body.removeprefix("|")
    if body.endswith("|") and not body.endswith("\\|"):
        body = body[:-1]
    return re.split(r"(?<!\\)\|", body)


@dataclasses.dataclass
class Table:
    header: list[str]
    rows: list[list[list[Token]]]  # each cell's inline children
    raw: list[str]

    def texts(self, row: list[list[Token]]) -> list[str]:
        return ["".join(child.content for child in cell) for cell in row]


def markdown_tables(text: str) -> list[Table]:
    """Every table, parsed by markdown-it; asserts that each source row has the header's
    number of cells (GFM silently drops or pads cells, so the parse alone would not show it)."""
    lines = text.split("\n")
    tokens = _markdown().parse(text)
    tables = []
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type != "table_open":
            index += 1
            continue
        assert token.map is not None
        raw = lines[token.map[0] : token.map[1]]
        header: list[str] = []
        rows: list[list[list[Token]]] = []
        row: list[list[Token]] = []
        in_head = False
        while tokens[index].type != "table_close":
            current = tokens[index]
            if current.type == "thead_open":
                in_head = True
            elif current.type == "thead_close":
                in_head = False
            elif current.type == "tr_open":
                row = []
            elif current.type == "inline":
                if in_head:
                    header.append(current.content)
                else:
                    row.append(current.children or [])
            elif current.type == "tr_close" and not in_head:
                rows.append(row)
            index += 1
        for line in raw:
            assert len(_raw_cells(line)) == len(header), (line, header)
        assert len(raw) == len(rows) + 2, "a row ended the table early"
        tables.append(Table(header=header, rows=rows, raw=raw))
    return tables


def table_after(text: str, heading: str) -> Table:
    """The first table after a heading line."""
    start = text.index(heading)
    tables = markdown_tables(text[start:])
    assert tables, heading
    return tables[0]


def code_of(cell: list[Token]) -> str:
    codes = [token.content for token in cell if token.type == "code_inline"]
    assert len(codes) == 1, cell
    return codes[0]


def assert_no_markup_from_data(text: str) -> None:
    """No link, image, emphasis or raw HTML of data: the only HTML is the summary's <sub>."""
    for token in _markdown().parse(text):
        for child in token.children or []:
            assert child.type not in ("link_open", "image", "em_open", "s_open"), child
            if child.type == "html_inline":
                assert child.content in ("<sub>", "</sub>"), child.content


def fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3f}"


def fmt_interval(ci: list[float] | None) -> str:
    return "–" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def judged_disparities(document: dict[str, Any]) -> list[dict[str, Any]]:
    config = document["run"]["config"]
    return [
        d
        for d in document["disparities"]
        if d["comparison"] == config["compare"] and d["metric"] in config["thresholds"]
    ]


def run_cli(out: Path, *args: str | Path) -> int:
    result = CliRunner().invoke(app, ["run", *map(str, args), "--out", str(out), "-q"])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "error" not in result.stderr, result.stderr
    return result.exit_code


def read_outputs(out: Path) -> dict[str, str]:
    return {name: (out / file).read_text("utf-8") for name, file in FILES.items()}


@pytest.fixture(scope="module")
def sarif_validator() -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / "sarif-schema-2.1.0.json").read_text("utf-8"))
    # Not check_schema(): the official file nests one anyOf under "properties" (region), which
    # the metaschema rejects; validating documents against it works as intended.
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


@pytest.fixture(scope="module")
def junit_schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(SCHEMAS / "junit-10.xsd"))


# --- the reports of two audits through the CLI -----------------------------------------------


# The explanation stage takes minutes on the Adult data with two cores; these tests are about
# the report formats, so they turn it off where the engine has it.
EXPLAIN_OFF = (
    ("--no-explain",) if "explain" in {f.name for f in dataclasses.fields(AuditRequest)} else ()
)


@pytest.fixture(scope="module")
def adult(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The bundled Adult demo with the example CI policy, every format, run from the repository
    root with relative paths, as a CI job would."""
    out = tmp_path_factory.mktemp("adult")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(REPO)
        code = run_cli(
            out,
            "examples/adult/model.pt",
            "examples/adult/test.csv.gz",
            "--target",
            "income",
            "--sensitive",
            "sex,race",
            "--config",
            "examples/ci/rai-audit.toml",
            "--n-boot",
            "200",
            "--format",
            ALL_FORMATS,
            *EXPLAIN_OFF,
        )
        texts = read_outputs(out)
    return {"code": code, "texts": texts, "document": json.loads(texts["json"])}


def predictions_frame(rows_per_group: int = 150, seed: int = 5) -> pd.DataFrame:
    """Decisions that favour group a, scores that rank labels well, and a small group d."""
    rng = np.random.default_rng(seed)
    blocks = []
    for group, n, lift in (("a", rows_per_group, 0.3), ("b", rows_per_group, 0.0), ("d", 12, 0)):
        label = rng.integers(0, 2, size=n)
        score = np.clip(0.55 * label + lift + rng.uniform(0, 0.45, size=n), 0, 1)
        blocks.append(
            pd.DataFrame({"grp": group, "y": label, "score": score, "d": (score >= 0.5) * 1})
        )
    return pd.concat(blocks, ignore_index=True)


@pytest.fixture(scope="module")
def predictions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("predictions")
    frame = predictions_frame()
    data = root / "inputs" / "decisions.csv"
    data.parent.mkdir()
    frame.to_csv(data, index=False)
    cwd = root / "cwd"
    cwd.mkdir()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(cwd)
        code = run_cli(
            root / "out",
            data,
            "--predictions",
            "d",
            "--scores",
            "score",
            "--target",
            "y",
            "--sensitive",
            "grp",
            "--n-boot",
            "100",
            "--format",
            ALL_FORMATS,
        )
    texts = read_outputs(root / "out")
    return {"code": code, "texts": texts, "document": json.loads(texts["json"]), "frame": frame}


AUDITS = ("adult", "predictions")


@pytest.fixture(params=AUDITS)
def audit_run(request: pytest.FixtureRequest) -> dict[str, Any]:
    run: dict[str, Any] = request.getfixturevalue(request.param)
    return run


@pytest.mark.parametrize("name", ["sarif-schema-2.1.0.json", "junit-10.xsd"])
def test_committed_schemas_are_the_ones_provenance_names(name: str) -> None:
    digest = hashlib.sha256((SCHEMAS / name).read_bytes()).hexdigest()
    assert digest in (SCHEMAS / "PROVENANCE.md").read_text("utf-8")


def test_new_formats_are_plugins_with_their_file_names() -> None:
    formatters = available_formatters()
    assert {name: f"report.{formatters[name].extension}" for name in FILES} == FILES


def test_the_cli_writes_every_format_and_fails_the_gate(audit_run: dict[str, Any]) -> None:
    document = audit_run["document"]
    assert document["gate"]["passed"] is False
    assert audit_run["code"] == 1
    assert all(audit_run["texts"][name] for name in FILES)


def test_adult_run_reads_the_example_ci_policy(adult: dict[str, Any]) -> None:
    config = adult["document"]["run"]["config"]
    assert config["fail_on"] == "high"
    assert config["require_significance"] is True
    assert config["thresholds"]["equal_opportunity_difference"]["max"] == 0.05
    disparity_references = {
        reference
        for finding in adult["document"]["findings"]
        if finding["check"] == "fairness.disparity"
        for reference in finding["references"]
    }
    assert "ACME-RAI-07: fairness review before each model release" in disparity_references


# --- SARIF -----------------------------------------------------------------------------------


def test_sarif_validates_and_maps_every_finding(
    audit_run: dict[str, Any], sarif_validator: jsonschema.Draft202012Validator
) -> None:
    sarif = json.loads(audit_run["texts"]["sarif"])
    document = audit_run["document"]
    sarif_validator.validate(sarif)
    assert sarif["version"] == "2.1.0"
    assert sarif["$schema"] == sarif_validator.schema["$id"]
    (run,) = sarif["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "rai-audit"
    assert driver["version"] == document["tool"]["version"]
    rule_ids = [rule["id"] for rule in driver["rules"]]
    assert rule_ids[: len(document["checks"])] == [check["id"] for check in document["checks"]]
    assert len(rule_ids) == len(set(rule_ids))
    for rule in driver["rules"]:
        assert rule["shortDescription"]["text"]
        assert rule["fullDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("error", "warning", "note")
    assert len(run["results"]) == len(document["findings"])
    violations = {violation["finding"] for violation in document["gate"]["violations"]}
    for result, finding in zip(run["results"], document["findings"], strict=True):
        assert result["ruleId"] == finding["check"]
        assert rule_ids[result["ruleIndex"]] == finding["check"]
        assert result["level"] == SARIF_LEVEL[finding["severity"]]
        assert result["partialFingerprints"] == {"raiAuditFingerprint/v1": finding["fingerprint"]}
        assert finding["title"] in result["message"]["text"]
        properties = result["properties"]
        assert properties["accountable"] == finding["accountable"]
        assert properties["consulted"] == finding["consulted"]
        assert properties["gateViolation"] == (finding["id"] in violations)
        assert properties["evidence"]["value"] == finding["evidence"]["value"]
        assert properties["evidence"]["interval"] == finding["evidence"]["interval"]
        assert properties["evidence"]["n"] == finding["evidence"]["n"]
        # One result per cause, with the cause's other measurements and why it is graded so.
        assert finding["severity_reason"] in result["message"]["text"]
        assert properties["severityReason"] == finding["severity_reason"]
        assert properties["relatedEvidence"] == finding["related_evidence"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        assert urlsplit(uri).scheme == "" and not uri.startswith("/"), uri
        # On the model file when the check judges the model's behaviour and there is one,
        # else on the data file; always on a line, which code-scanning views need.
        about_model = check_table()[finding["check"]].subject == "model"
        expected = 1 if about_model and len(run["artifacts"]) > 1 else 0
        assert physical["artifactLocation"]["index"] == expected
        assert uri == run["artifacts"][expected]["location"]["uri"]
        assert physical["region"] == {"startLine": 1}
    assert run["artifacts"][0]["hashes"]["sha-256"] == document["run"]["data"]["file"]["sha256"]


def test_sarif_rules_take_their_description_from_the_report(audit_run: dict[str, Any]) -> None:
    shipped = shipped_check_files()
    document = audit_run["document"]
    rules = {
        rule["id"]: rule
        for rule in json.loads(audit_run["texts"]["sarif"])["runs"][0]["tool"]["driver"]["rules"]
    }
    described = [check for check in document["checks"] if check["id"] in shipped]
    assert described
    for check in described:
        assert check["description"] == shipped[check["id"]]["description"]
        assert rules[check["id"]]["shortDescription"]["text"] == check["description"]
        assert rules[check["id"]]["fullDescription"]["text"] == check["description"]


def test_sarif_points_at_the_data_file_relative_to_the_repository(adult: dict[str, Any]) -> None:
    run = json.loads(adult["texts"]["sarif"])["runs"][0]
    assert [artifact["location"]["uri"] for artifact in run["artifacts"]] == [
        "examples/adult/test.csv.gz",
        "examples/adult/model.pt",
    ]


def test_sarif_rule_help_holds_recommendation_roles_and_references(adult: dict[str, Any]) -> None:
    rules = {
        rule["id"]: rule
        for rule in json.loads(adult["texts"]["sarif"])["runs"][0]["tool"]["driver"]["rules"]
    }
    disparity = rules["fairness.disparity"]
    help_text = disparity["help"]["text"]
    assert "Investigate why the groups differ" in help_text
    assert "Developer (accountable)" in help_text
    assert "EU AI Act Art. 10(2)(f)-(g)" in help_text
    # The example policy's own control id reaches the rule's help.
    assert "ACME-RAI-07: fairness review before each model release" in help_text
    assert "ACME-HR-12" in rules["fairness.four_fifths"]["help"]["text"]
    assert disparity["defaultConfiguration"]["level"] == "error"  # its "clear" grade is high
    assert rules["data.small_groups"]["defaultConfiguration"]["level"] == "note"


def test_predictions_only_sarif_has_only_the_data_artifact(predictions: dict[str, Any]) -> None:
    run = json.loads(predictions["texts"]["sarif"])["runs"][0]
    # The data lies outside the directory the audit ran in: its file name, not an absolute path.
    assert [artifact["location"]["uri"] for artifact in run["artifacts"]] == ["decisions.csv"]
    assert run["invocations"][0]["executionSuccessful"] is True


# --- JUnit -----------------------------------------------------------------------------------


def _junit(text: str, schema: xmlschema.XMLSchema) -> ET.Element:
    schema.validate(text)
    return ET.fromstring(text.encode("utf-8"))


def _outcome(case: ET.Element) -> str:
    for outcome in ("failure", "error", "skipped"):
        if case.find(outcome) is not None:
            return outcome
    return "passed"


def test_junit_validates_and_its_counts_add_up(
    audit_run: dict[str, Any], junit_schema: xmlschema.XMLSchema
) -> None:
    root = _junit(audit_run["texts"]["junit"], junit_schema)
    assert root.tag == "testsuites"
    totals: Counter[str] = Counter()
    for suite in root.findall("testsuite"):
        outcomes = Counter(_outcome(case) for case in suite.findall("testcase"))
        assert int(suite.get("tests", "-1")) == len(suite.findall("testcase"))
        assert int(suite.get("failures", "-1")) == outcomes["failure"]
        assert int(suite.get("errors", "-1")) == outcomes["error"]
        assert int(suite.get("skipped", "-1")) == outcomes["skipped"]
        names = [case.get("name") for case in suite.findall("testcase")]
        assert len(names) == len(set(names)), "test case names repeat within a suite"
        totals.update(outcomes)
        totals["tests"] += len(names)
    assert int(root.get("tests", "-1")) == totals["tests"]
    assert int(root.get("failures", "-1")) == totals["failure"]
    assert int(root.get("errors", "-1")) == totals["error"]


def test_junit_fails_exactly_the_gate_violations(
    audit_run: dict[str, Any], junit_schema: xmlschema.XMLSchema
) -> None:
    document = audit_run["document"]
    root = _junit(audit_run["texts"]["junit"], junit_schema)
    failures = [
        case.find("failure") for case in root.iter("testcase") if _outcome(case) == "failure"
    ]
    reasons = sorted(failure.get("message", "") for failure in failures if failure is not None)
    assert reasons == sorted(violation["reason"] for violation in document["gate"]["violations"])
    assert reasons, "the demo audits fail the gate"
    for failure in failures:
        assert failure is not None and failure.text and "accountable: " in failure.text


def test_junit_has_a_case_per_judged_comparison_and_gating_finding(
    audit_run: dict[str, Any], junit_schema: xmlschema.XMLSchema
) -> None:
    document = audit_run["document"]
    root = _junit(audit_run["texts"]["junit"], junit_schema)
    suites = {suite.get("name"): suite.findall("testcase") for suite in root.findall("testsuite")}
    judged = judged_disparities(document)
    for check in ("fairness.disparity", "fairness.calibration_gap"):
        assert len(suites[check]) == sum(d["judged_by"] == check for d in judged)
    # Each cause fails once: as many failing cases as gate violations, whatever number of
    # metrics and slices each cause's finding carries.
    failing = [case for cases in suites.values() for case in cases if _outcome(case) == "failure"]
    assert len(failing) == len(document["gate"]["violations"])
    merged = [f for f in document["findings"] if f["related_evidence"]]
    assert merged  # the audit has findings of one cause with several measurements
    # Four-fifths: every measured group of a slice but the most selected one.
    expected = 0
    slices: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for group in document["groups"]:
        slices.setdefault(tuple(group["feature"]), []).append(group)
    for groups in slices.values():
        rates = [
            g["metrics"]["selection_rate"]
            for g in groups
            if g["status"] == "ok" and g["metrics"]["selection_rate"] is not None
        ]
        if len(rates) >= 2 and max(rates) > 0:
            expected += len(rates) - 1
    assert len(suites["fairness.four_fifths"]) == expected
    assert len(suites["data.small_groups"]) == len(slices)
    # Every finding at or above fail_on is a test case, named by what it measured.
    text = audit_run["texts"]["junit"]
    fail_on = SEVERITY_RANK[document["gate"]["fail_on"]]
    for finding in document["findings"]:
        if SEVERITY_RANK[finding["severity"]] >= fail_on:
            assert f"fingerprint: {finding['fingerprint']}" in text


def test_junit_passes_a_finding_that_does_not_fail_the_gate(
    predictions: dict[str, Any], junit_schema: xmlschema.XMLSchema
) -> None:
    """Group d is too small: a low finding, below fail_on=medium, so its case passes and says
    why."""
    document = predictions["document"]
    (small,) = [f for f in document["findings"] if f["check"] == "data.small_groups"]
    assert small["severity"] == "low"
    root = _junit(predictions["texts"]["junit"], junit_schema)
    (case,) = [c for c in root.iter("testcase") if c.get("name") == "group_size for grp"]
    assert _outcome(case) == "passed"
    output = case.findtext("system-out") or ""
    assert "d (n=12)" in output
    assert "Not a gate violation: low is below fail_on=medium." in output


# --- Markdown summary ------------------------------------------------------------------------


def test_markdown_summary_structure_and_counts(audit_run: dict[str, Any]) -> None:
    text = audit_run["texts"]["markdown"]
    document = audit_run["document"]
    # A pull-request comment: under 4 KiB, what to do first, the tables folded away.
    assert len(text.encode("utf-8")) <= COMMENT_BYTES
    assert text.startswith("## ❌ rai-audit: gate failed\n")
    headings = [
        "### Act first",
        "<details>",
        "### Findings by severity and accountable role",
        "### Gate violations",
        "### Disparities judged by the policy",
        "### Groups",
        "### Checks",
        "</details>",
    ]
    positions = [text.index(f"\n{heading}") for heading in headings]
    assert positions == sorted(positions)
    violations = document["gate"]["violations"]
    assert f"### Gate violations ({len(violations)})" in text
    assert_no_markup_from_data(text)
    # "Act first": the gravest gate violations, each with its owner and that owner's action.
    by_id = {finding["id"]: finding for finding in document["findings"]}
    first = re.findall(r"^\d+\. \*\*(\w+)\*\*, (\w+) to act: .*\n   - (.+)$", text, re.M)
    assert 1 <= len(first) <= 3
    failing = [by_id[violation["finding"]] for violation in violations]
    names = {"developer": "Developer", "deployer": "Deployer", "regulator": "Regulator"}
    for severity, owner, action in first:
        assert any(
            f["severity"] == severity
            and names[f["accountable"]] == owner
            and f["actions"][f["accountable"]] == action
            for f in failing
        ), (severity, owner, action)
    total = len(document["findings"])
    assert f"**{total} finding(s) in all**, each counted once" in text
    counts = table_after(text, "### Findings by severity")
    assert counts.header == ["Severity", "Developer", "Deployer", "Regulator", "Total"]
    expected = Counter((f["severity"], f["accountable"]) for f in document["findings"])
    for row in counts.rows:
        cells = counts.texts(row)
        if cells[0] == "all":
            assert int(cells[-1]) == total
            continue
        for index, role in enumerate(("developer", "deployer", "regulator"), start=1):
            assert int(cells[index]) == expected[(cells[0], role)]
    judged = judged_disparities(document)
    shown = rows_shown(text, "### Disparities judged")
    for row, disparity in zip(shown, judged, strict=False):
        assert row[2] == fmt(disparity["value"])
        assert row[3] == fmt_interval(disparity["ci"])
    assert len(shown) + omitted(text, "disparity row(s)") == len(judged)
    groups = rows_shown(text, "### Groups")
    assert len(groups) + omitted(text, "group row(s)") == len(document["groups"])


def rows_shown(text: str, heading: str) -> list[list[str]]:
    """The rows of the table after ``heading``: none when every row was left to the JSON."""
    start = text.index(heading)
    following = text.find("\n### ", start + len(heading))
    section = text[start : following if following >= 0 else len(text)]
    if "\n|" not in section:
        return []
    table = table_after(text, heading)
    return [table.texts(row) for row in table.rows]


def omitted(text: str, what: str) -> int:
    found = re.search(rf"(\d+) more {re.escape(what)} are in the JSON report", text)
    return int(found.group(1)) if found else 0


def test_markdown_group_rates_match_an_independent_computation(
    predictions: dict[str, Any],
) -> None:
    frame = predictions["frame"]
    groups = table_after(predictions["texts"]["markdown"], "### Groups")
    assert groups.header[:4] == ["Slice", "Group", "n", "Positives"]
    shown = {code_of(row[1]): groups.texts(row) for row in groups.rows}
    for name in ("a", "b"):
        rows = frame[frame["grp"] == name]
        decided = rows["d"] == 1
        positive = rows["y"] == 1
        cells = shown[name]
        assert cells[2] == f"{len(rows):,}"
        assert cells[3] == f"{int(positive.sum()):,}"
        assert cells[4] == f"{decided.mean():.3f}"  # selection rate
        assert cells[5] == f"{(decided & positive).sum() / positive.sum():.3f}"  # TPR
        assert cells[6] == f"{(decided & ~positive).sum() / (~positive).sum():.3f}"  # FPR
        assert cells[7] == f"{(decided == positive).mean():.3f}"  # accuracy
    assert shown["d"][4] == "insufficient data"


# --- model card ------------------------------------------------------------------------------


def test_model_card_sections_and_placeholders(audit_run: dict[str, Any]) -> None:
    text = audit_run["texts"]["model-card"]
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert headings == list(MODEL_CARD_SECTIONS)
    sections = dict(zip(headings, re.split(r"^## .+$", text, flags=re.MULTILINE)[1:], strict=True))
    for section in ("Model details", "Intended use", "Factors", "Training data"):
        assert "`TODO(developer):`" in sections[section], section
    assert sections["Intended use"].count("`TODO(developer):`") == 3
    assert_no_markup_from_data(text)


def test_model_card_numbers_equal_the_json(audit_run: dict[str, Any]) -> None:
    text = audit_run["texts"]["model-card"]
    document = audit_run["document"]
    analyses = text[text.index("## Quantitative analyses") :]
    tables = markdown_tables(analyses)
    by_slice: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for group in document["groups"]:
        by_slice.setdefault(tuple(group["feature"]), []).append(group)
    assert len(tables) == len(by_slice) + 1  # one per slice, then the disparities
    metrics = list(next(g["metrics"] for g in document["groups"] if g["metrics"]))
    for table, groups in zip(tables, by_slice.values(), strict=False):
        assert len(table.header) == 2 + len(metrics)
        assert len(table.rows) == len(groups)
        for row, group in zip(table.rows, groups, strict=True):
            cells = table.texts(row)
            assert code_of(row[0]) == " / ".join(group["group"])
            assert cells[1] == f"{group['n']:,}"
            if group["status"] != "ok":
                assert cells[2] == "insufficient data"
                continue
            for metric, cell in zip(metrics, cells[2:], strict=True):
                value, ci = group["metrics"][metric], group["ci"][metric]
                assert cell == f"{fmt(value)} {fmt_interval(ci)}", (group["group"], metric)
    disparities = tables[-1]
    judged = judged_disparities(document)
    assert len(disparities.rows) == len(judged)
    for row, disparity in zip(disparities.rows, judged, strict=True):
        cells = disparities.texts(row)
        assert cells[2] == fmt(disparity["value"])
        assert cells[3] == fmt_interval(disparity["ci"])
    for role in ("developer", "deployer", "regulator"):
        owned = sum(finding["accountable"] == role for finding in document["findings"])
        heading = f"### {role.capitalize()}\n"
        section = text[text.index(heading) :]
        section = section[: section.index("\n### ", 1) if "\n### " in section[1:] else None]
        if owned:
            assert f"Accountable for {owned} finding(s):" in section
        else:
            assert "Accountable for no finding of this audit." in section


def test_model_card_of_a_predictions_only_audit_says_there_is_no_model(
    predictions: dict[str, Any],
) -> None:
    text = predictions["texts"]["model-card"]
    assert text.startswith("# Model card: decisions audited without a model\n")
    assert "The audit read the decisions from the data (`--predictions`)" in text
    assert "`grp` = `d` (n=12)" in text  # the unmeasured group is named in the caveats


# --- hostile names ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    rng = np.random.default_rng(11)
    rows = 60
    frame = pd.DataFrame(
        {
            HOSTILE_COLUMN: np.repeat(HOSTILE_GROUPS, rows),
            "y": rng.integers(0, 2, size=rows * len(HOSTILE_GROUPS)),
        }
    )
    frame["d"] = (frame["y"] + rng.integers(0, 2, size=len(frame)) > 1) * 1
    path = tmp_path_factory.mktemp("hostile") / "hostile.csv"
    frame.to_csv(path, index=False)
    request = AuditRequest(
        data=path,
        target="y",
        sensitive=(HOSTILE_COLUMN,),
        predictions="d",
        policy_overrides={"n_boot": 50},
        search_config=False,
    )
    return run_audit(request)


def test_hostile_names_keep_markdown_tables_whole(hostile: AuditResult) -> None:
    expected = {_one_line(name) for name in HOSTILE_GROUPS}
    for text in (MarkdownFormatter().render(hostile), ModelCardFormatter().render(hostile)):
        assert_no_markup_from_data(text)
        tables = markdown_tables(text)  # asserts the cell count of every row
        shown = {
            code_of(row[column])
            for table in tables
            for row in table.rows
            for column, title in enumerate(table.header)
            if title == "Group"
        }
        if text.startswith("## "):  # the summary: groups past its 4 KiB are in the JSON
            assert shown and shown <= expected
            assert len(shown) + omitted(text, "group row(s)") >= len(expected)
        else:
            assert expected <= shown
        slices = {
            code_of(row[table.header.index("Slice")])
            for table in tables
            if "Slice" in table.header
            for row in table.rows
        }
        assert slices == {_one_line(HOSTILE_COLUMN)}


def test_hostile_names_in_junit_and_sarif(
    hostile: AuditResult,
    junit_schema: xmlschema.XMLSchema,
    sarif_validator: jsonschema.Draft202012Validator,
) -> None:
    root = _junit(JunitFormatter().render(hostile), junit_schema)
    names = {case.get("name") for case in root.iter("testcase")}
    column = HOSTILE_COLUMN
    assert f"selection_rate_ratio for {column}=line\nbreak" in names
    # XML 1.0 cannot hold U+0001 even escaped: it is written as the text \x01.
    assert any(name and "ctrl\\x01char" in name for name in names)
    sarif = json.loads(SarifFormatter().render(hostile))
    sarif_validator.validate(sarif)
    groups = {
        tuple(group)
        for result in sarif["runs"][0]["results"]
        for group in result["properties"]["evidence"]["groups"]
    }
    assert groups <= {(name,) for name in HOSTILE_GROUPS}
    assert groups


@pytest.mark.parametrize("name", [HOSTILE_COLUMN, *HOSTILE_GROUPS, " padded ", "`", "a\\"])
def test_escaped_text_and_code_spans_parse_back_to_the_name(name: str) -> None:
    parser = _markdown()
    (paragraph,) = [t for t in parser.parse(md_text(name)) if t.type == "inline"]
    assert {child.type for child in paragraph.children or []} <= {"text"}
    # A paragraph drops its outer spaces; a code span keeps them.
    assert "".join(c.content for c in paragraph.children or []) == _one_line(name).strip()
    (span,) = [t for t in parser.parse(md_code(name, in_table=False)) if t.type == "inline"]
    assert [(c.type, c.content) for c in span.children or []] == [("code_inline", _one_line(name))]
    table = f"| h |\n| --- |\n| {md_code(name, in_table=True)} |\n"
    (parsed,) = markdown_tables(table)
    assert code_of(parsed.rows[0][0]) == _one_line(name)


def test_text_escaping_stops_autolinks_and_mentions() -> None:
    escaped = md_text("see www.evil.example, https://evil.example and @admin #12")
    assert "www\\.evil" in escaped
    assert "https\\://" in escaped
    assert "\\@admin" in escaped and "\\#12" in escaped


# --- limits, skipped and crashed checks --------------------------------------------------------


def test_markdown_summary_stays_under_the_comment_limit(hostile: AuditResult) -> None:
    template = hostile.groups[0]
    many = tuple(
        dataclasses.replace(template, group=(f"group-{index}-" + "x" * 120,))
        for index in range(3000)
    )
    text = MarkdownFormatter().render(dataclasses.replace(hostile, groups=many))
    assert len(text.encode("utf-8")) <= COMMENT_BYTES
    groups = rows_shown(text, "### Groups")
    assert len(groups) + omitted(text, "group row(s)") == 3000
    # Long names are shortened in the summary, with an ellipsis.
    assert groups  # with one finding per cause there is room for some group rows
    assert all(code_of(row[1]).endswith("…") for row in table_after(text, "### Groups").rows)


def test_skipped_and_crashed_checks_in_every_format(
    hostile: AuditResult,
    junit_schema: xmlschema.XMLSchema,
    sarif_validator: jsonschema.Draft202012Validator,
) -> None:
    checks = (
        CheckRun("fairness.disparity", CheckStatus.SKIPPED, "no thresholds to judge", 0),
        CheckRun("data.small_groups", CheckStatus.ERROR, "RuntimeError: boom", 0),
    )
    findings = tuple(
        f for f in hostile.findings if f.check not in ("fairness.disparity", "data.small_groups")
    )
    gate = dataclasses.replace(
        hostile.gate,
        violations=tuple(
            v for v in hostile.gate.violations if v.finding in {f.id for f in findings}
        ),
    )
    result = dataclasses.replace(hostile, checks=checks, findings=findings, gate=gate)
    assert result.incomplete
    root = _junit(JunitFormatter().render(result), junit_schema)
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    (skipped,) = suites["fairness.disparity"].findall("testcase")
    assert _outcome(skipped) == "skipped"
    reason = skipped.find("skipped")
    assert reason is not None and reason.get("message") == "no thresholds to judge"
    assert suites["data.small_groups"].get("errors") == "1"
    assert root.get("errors") == "1"
    sarif = json.loads(SarifFormatter().render(result))
    sarif_validator.validate(sarif)
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    levels = {
        n["associatedRule"]["id"]: n["level"] for n in invocation["toolExecutionNotifications"]
    }
    assert levels == {"fairness.disparity": "note", "data.small_groups": "error"}
    summary = MarkdownFormatter().render(result)
    assert summary.startswith("## ⚠️ rai-audit: audit incomplete\n")
    card = ModelCardFormatter().render(result)
    assert "**Check `fairness.disparity` skipped:** no thresholds to judge." in card


def test_render_names_files_by_extension(hostile: AuditResult) -> None:
    names = ["markdown", "junit", "sarif", "model-card"]
    assert sorted(render(hostile, names)) == sorted(FILES[name] for name in names)


def test_insufficient_groups_are_named_not_measured(predictions: dict[str, Any]) -> None:
    document = predictions["document"]
    (small,) = [g for g in document["groups"] if g["status"] == GroupStatus.INSUFFICIENT_DATA]
    assert small["group"] == ["d"] and small["n"] == 12
    factors = table_after(predictions["texts"]["model-card"], "## Factors")
    statuses = {code_of(row[1]): factors.texts(row)[-1] for row in factors.rows}
    assert statuses == {"a": "measured", "b": "measured", "d": "insufficient data"}


def test_the_example_workflow_uses_real_formats_files_and_config() -> None:
    workflow = (REPO / "examples" / "ci" / "fairness-audit.yml").read_text("utf-8")
    (formats,) = re.findall(r"--format ([\w,-]+)", workflow)
    assert set(formats.split(",")) == set(FILES)
    assert set(formats.split(",")) <= set(available_formatters())
    (config,) = re.findall(r"--config (\S+)", workflow)
    assert (REPO / config).resolve() == CI_CONFIG
    for published in ("report.md", "report.sarif", "report.junit.xml"):
        assert f"audit-out/{published}" in workflow
    assert "\t" not in workflow  # YAML forbids tabs for indentation


def test_markdown_names_how_many_measurements_a_cause_carries(audit_run: dict[str, Any]) -> None:
    text = audit_run["texts"]["markdown"]
    act_first = text[text.index("### Act first") : text.index("<details>")]
    merged = [f for f in audit_run["document"]["findings"] if f["related_evidence"]]
    assert merged
    counts = {len(f["related_evidence"]) for f in merged}
    assert any(f"and {n} more measurement(s) of this cause" in act_first for n in counts)
