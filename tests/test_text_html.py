"""The text section of report.html and the CLI summary of a text audit, on the bundled
sentiment example run once (with a hostile identity-terms file added) through the CLI."""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from audit.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sentiment"
KNOWLEDGE = Path(__file__).resolve().parents[1] / "audit" / "knowledge"
HOSTILE_LABEL = "<script>alert('label')</script>"
HOSTILE_TERM = "<img src=x onerror=alert(1)>"
HOSTILE_TERMS = f"""
[hostile]
label = "<b>hostile</b> category"
probe_kind = "noun"

[hostile.groups.villains]
label = "{HOSTILE_LABEL}"
terms = ["film"]
probe_terms = ["{HOSTILE_TERM}"]

[hostile.groups.heroes]
label = "heroes"
terms = ["movie"]
probe_terms = ["hero"]
"""


@dataclass(frozen=True)
class Run:
    stdout: str
    exit_code: int
    document: dict[str, Any]
    html: str


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    root = tmp_path_factory.mktemp("text-html")
    (root / "rai-audit.toml").write_text(
        "n_boot = 100\n[text]\npii_rows = 100\nattribution_rows = 8\nattribution_examples = 2\n",
        encoding="utf-8",
    )
    terms = root / "hostile.toml"
    terms.write_text(HOSTILE_TERMS, encoding="utf-8")
    out = root / "out"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        result = CliRunner().invoke(
            app,
            [
                "run",
                str(EXAMPLE / "model.pt"),
                str(EXAMPLE / "test.csv.gz"),
                "--text-column",
                "text",
                "--target",
                "label",
                "--identity-terms",
                str(terms),
                "--out",
                str(out),
            ],
        )
    assert result.exit_code in (0, 1), result.output
    return Run(
        result.stdout,
        result.exit_code,
        json.loads((out / "report.json").read_text("utf-8")),
        (out / "report.html").read_text("utf-8"),
    )


class Tables(HTMLParser):
    """Every table's caption and rows of cell texts, and every element id."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self.ids: set[str] = set()
        self.scripts = 0
        self._stack: list[str] = []
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.add(str(found["id"]))
        if tag == "script" or any(name.startswith("on") for name in found):
            self.scripts += 1
        if tag == "table":
            self.tables.append({"class": found.get("class") or "", "caption": "", "rows": []})
        elif tag == "caption":
            self._caption = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = "".join(self._caption).strip()
            self._caption = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        for part in (self._cell, self._caption):
            if part is not None:
                part.append(data)


def text_section(html: str) -> str:
    start = html.index('<section id="text"')
    return html[start : html.index("</section>", start)]


@pytest.fixture(scope="module")
def parsed(run: Run) -> Tables:
    parser = Tables()
    parser.feed(text_section(run.html))
    return parser


def table(parsed: Tables, css: str) -> list[list[str]]:
    found = [entry for entry in parsed.tables if css in entry["class"].split()]
    assert found, css
    return [row for entry in found for row in entry["rows"][1:]]  # without the header


def test_every_subsection_is_present_and_linked(run: Run, parsed: Tables) -> None:
    for anchor in (
        "text-model",
        "text-identity",
        "text-counterfactual",
        "text-templates",
        "text-subgroup-auc",
        "text-pii",
        "text-attributions",
        "text-methods",
    ):
        assert anchor in parsed.ids
    assert '<li><a href="#text">Text</a></li>' in run.html
    assert run.html.count('<section id="text"') == 1


def test_model_and_identity_numbers_equal_the_json(run: Run, parsed: Tables) -> None:
    text = run.document["text"]
    facts = dict((row[0], row[1]) for row in table(parsed, "text-model"))
    assert facts["Accuracy"] == f"{text['performance']['accuracy']:.3f}"
    assert facts["ROC AUC"] == f"{text['performance']['roc_auc']:.3f}"
    rows = table(parsed, "text-identity")
    assert len(rows) == len(text["identity"]["groups"])
    for row, group in zip(rows, text["identity"]["groups"], strict=True):
        assert row[1] == group["label"]
        assert row[0] == text["identity"]["categories"][group["category"]]
        assert row[3] == f"{group['rows']:,}"
        assert row[4] == f"{group['share'] * 100:.1f}%"


def test_counterfactual_rows_equal_the_json(run: Run, parsed: Tables) -> None:
    counterfactual = run.document["text"]["counterfactual"]
    measured = [pair for pair in counterfactual["pairs"] if pair["status"] == "ok"]
    small = [pair for pair in counterfactual["pairs"] if pair["status"] != "ok"]
    assert measured and small
    rows = [row for row in table(parsed, "text-swaps") if " → " in row[1]]
    by_label = {row[1].split(" (")[0]: row for row in rows}
    for pair in measured:
        row = by_label[f"{pair['terms'][0]} → {pair['terms'][1]}"]
        assert row[2] == f"{pair['rows']:,}"
        assert row[3] == f"{pair['score_gap']:+.3f}"
        low, high = pair["score_gap_ci"]
        assert row[4] == f"[{low:.3f}, {high:.3f}]"
        assert row[6] == f"{pair['flip_rate']:.3f}"
        assert row[8] == f"{pair['flips_to_adverse']} / {pair['flips_from_adverse']}"
    small_rows = table(parsed, "text-swaps-small")
    too_small = [row for row in small_rows if row[3] == "too few texts"]
    groups_small = [s for s in counterfactual["group_swaps"] if s["status"] != "ok"]
    assert len(too_small) == len(small) + len(groups_small)
    # Each measured pair's gap is also drawn: its value text sits in the chart.
    gaps = re.findall(r"[+-]\d\.\d{3} \[[+-]\d\.\d{3}, [+-]\d\.\d{3}\]", text_section(run.html))
    for pair in measured:
        assert any(gap.startswith(f"{pair['score_gap']:+.3f} [") for gap in gaps)


def test_template_terms_equal_the_json(run: Run, parsed: Tables) -> None:
    terms = run.document["text"]["templates"]["terms"]
    rows = table(parsed, "text-templates")
    assert len(rows) == len(terms)
    for row, term in zip(rows, terms, strict=True):
        assert row[0] == term["term"]
        assert row[2] == ("yes" if term["in_vocabulary"] else "no")
        assert row[3] == f"{term['mean_score']:.3f}"
        assert row[4] == f"{term['score_gap']:+.3f}"
        assert row[6] == f"{term['false_adverse_rate']:.3f}"
    # One dot (filled circle or open square) per term in the dot plots.
    plots = re.findall(r"<svg[^>]*aria-label=\"Mean score of each.*?</svg>", run.html)
    dots = sum(
        plot.count('r="4.5" fill="#1f4e79"') + plot.count('fill="#fff" stroke="#b45309"')
        for plot in plots
    )
    assert dots == len(terms)


def test_subgroup_aucs_equal_the_json(run: Run, parsed: Tables) -> None:
    auc = run.document["text"]["subgroup_auc"]
    section = text_section(run.html)
    assert f"Overall ROC AUC on {auc['rows']:,} texts: {auc['overall_auc']:.3f}" in section
    rows = table(parsed, "text-auc")
    # The table holds the groups mentioned often enough; the others are one line after it.
    shown = [group for group in auc["groups"] if group["status"] == "ok"]
    small = [group for group in auc["groups"] if group["status"] != "ok"]
    assert len(rows) == len(shown)
    if small:
        line = section[section.index('<p class="auc-small">') :].split("</p>", 1)[0]
        assert line.startswith(f'<p class="auc-small">{len(small)} group(s) mentioned in fewer')
        for group in small:
            texts = "text" if group["n"] == 1 else "texts"
            assert f"{group['n']:,} {texts})" in line
    measured = 0
    for row, group in zip(rows, shown, strict=True):
        assert row[2] == f"{group['n']:,}"
        value = group["metrics"]["subgroup_auc"]
        if value is None:
            assert row[4].startswith("undefined: ")
            assert group["undefined"]["subgroup_auc"] in row[4]
            continue
        measured += 1
        low, high = group["ci"]["subgroup_auc"]
        assert row[4] == f"{value:.3f} [{low:.3f}, {high:.3f}]"
        assert row[5].startswith(f"{group['gap']['subgroup_auc']:+.3f}")
    assert measured >= 2  # women, men and the hostile file's groups are mentioned often


def test_pii_is_masked_and_insertions_equal_the_json(run: Run, parsed: Tables) -> None:
    pii = run.document["text"]["pii"]
    found = table(parsed, "text-pii-found")
    assert [row[3] for row in found] == [d["masked_example"] or "–" for d in pii["detections"]]
    inserted = table(parsed, "text-pii-inserted")
    for row, item in zip(inserted, pii["insertions"], strict=True):
        assert row[0] == item["label"]
        assert row[3] == f"{item['mean_change']:+.3f}"
        assert row[6] == f"{item['flip_rate']:.3f}"
    # No raw personal data: neither the synthetic inserted values nor an unmasked address.
    probes = tomllib.loads((KNOWLEDGE / "text_pii_probes.toml").read_text("utf-8"))
    values = [value for kind in probes["types"].values() for value in kind["values"]]
    assert values
    for value in values:
        assert value not in run.html
    assert not re.search(r"[\w.]+@[\w-]+\.\w+", run.html)


def test_attributed_sentences_mark_sign_identity_and_unknown_tokens(
    run: Run, parsed: Tables
) -> None:
    attributions = run.document["text"]["attributions"]
    section = text_section(run.html)
    assert attributions["examples"]
    assert section.count('class="attribution-example"') == len(attributions["examples"])
    for example in attributions["examples"]:
        tokens = example["original"]["tokens"] + example["swapped"]["tokens"]
        scale = max(abs(token["attribution"]) for token in tokens)
        for token in tokens:
            title = f"{token['token']}: attribution {token['attribution']:+.4f}"
            assert title in section or title.replace("'", "&#39;") in section
        strong = [t for t in tokens if abs(t["attribution"]) >= 0.05 * scale]
        assert strong
    # Signs are text, not colour alone; identity terms outlined; unknown tokens marked.
    assert '<span class="sign" aria-hidden="true">+</span>' in section
    assert '<span class="sign" aria-hidden="true">−</span>' in section
    identity = sum(
        t["identity"]
        for e in attributions["examples"]
        for side in ("original", "swapped")
        for t in e[side]["tokens"]
    )
    assert section.count('class="tok identity') == identity + 1  # + the legend's
    rows = table(parsed, "text-attribution-terms")
    assert len(rows) == len(attributions["terms"])
    assert {row[2] for row in rows} == {term["term"] for term in attributions["terms"]}


def test_hostile_terms_and_labels_are_escaped(run: Run, parsed: Tables) -> None:
    assert parsed.scripts == 0
    assert HOSTILE_LABEL not in run.html and HOSTILE_TERM not in run.html
    assert "&lt;script&gt;alert(" in text_section(run.html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in text_section(run.html)
    # The hostile group's label reads as text in the identity table.
    assert HOSTILE_LABEL in [row[1] for row in table(parsed, "text-identity")]
    assert HOSTILE_TERM in [row[0] for row in table(parsed, "text-templates")]


def test_cli_summary_of_a_text_audit(run: Run) -> None:
    text = run.document["text"]
    lines = run.stdout.splitlines()
    assert "Disparities judged by the policy" not in run.stdout
    accuracy = f"Text model: accuracy {text['performance']['accuracy']:.3f}"
    assert any(line.startswith(accuracy) for line in lines), run.stdout
    groups = text["identity"]["groups"]
    pairs = text["counterfactual"]["pairs"]
    expected = (
        f"Identity groups: {sum(g['rows'] > 0 for g in groups)} of {len(groups)} mentioned in "
        f"{text['identity']['rows_with_terms']} texts; counterfactual pairs: "
        f"{sum(p['status'] == 'ok' for p in pairs)} measured of {len(pairs)}"
    )
    assert expected in run.stdout.replace("\n", " "), run.stdout


def test_skipped_checks_are_one_line(run: Run) -> None:
    skipped = [c["id"] for c in run.document["checks"] if c["status"] == "skipped"]
    assert "fairness.disparity" in skipped
    joined = " ".join(run.stdout.split())
    assert f"Checks {', '.join(skipped)}: skipped (see the report's checks)" in joined
    assert not any(line.startswith("Check fairness.") for line in run.stdout.splitlines())
