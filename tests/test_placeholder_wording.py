"""No output shows a wording template's slot unfilled, or filled with the slot's own name.

The model card and SARIF rule help speak of a check rather than one finding; they once
filled "{attribute}" with the word "attribute" ("People who differ only in attribute…").
Every check's finding is rendered into every format here, and each output is searched for
a raw slot and for every sentence that such a fill would produce.
"""

from __future__ import annotations

import re
import string
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import ADULT_DATA, ADULT_MODEL

import reports
from audit.api import AuditRequest, run_audit
from audit.core.check_knowledge import check_table
from audit.core.findings import finding_id, fingerprint
from audit.core.result import AuditResult

FORMATS = ["json", "html", "markdown", "sarif", "junit", "model-card"]
SLOT = re.compile(r"\{[a-z_]+\}")


def slots(template: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def named_fill_sentences(template: str) -> list[str]:
    """The template's sentences that hold a slot, each slot filled with its own name."""
    filled = template.format_map({name: name.replace("_", " ") for name in slots(template)})
    sentences = re.split(r"(?<=[.:;])\s+", filled)
    originals = re.split(r"(?<=[.:;])\s+", template)
    return [
        sentence
        for sentence, original in zip(sentences, originals, strict=False)
        if SLOT.search(original)
    ]


@pytest.fixture(scope="module")
def every_check(tmp_path_factory: pytest.TempPathFactory) -> AuditResult:
    """The demo's audit with one finding of every check, worded from its own template."""
    result = run_audit(
        AuditRequest(
            data=ADULT_DATA,
            target="income",
            sensitive=("sex", "race"),
            model=ADULT_MODEL,
            search_config=False,
            policy_overrides={"n_boot": 20},
        )
    )
    template = result.findings[0]
    findings = []
    for check, info in check_table().items():
        words = {name: f"«{name}»" for name in slots(info.title + info.recommendation)}
        findings.append(
            replace(
                template,
                id=finding_id(check, "placeholder"),
                fingerprint=fingerprint(check, "placeholder"),
                check=check,
                title=info.title.format_map(words),
                recommendation=info.recommendation.format_map(words),
            )
        )
    return replace(result, findings=tuple(findings))


def test_every_format_fills_every_slot(every_check: AuditResult) -> None:
    rendered = reports.render(every_check, FORMATS)
    assert {finding.check for finding in every_check.findings} == set(check_table())
    assert len(rendered) == len(FORMATS)
    for name, text in rendered.items():
        assert not SLOT.search(text), (name, SLOT.search(text))
        for check, info in check_table().items():
            for sentence in named_fill_sentences(info.recommendation):
                assert sentence not in text, (name, check, sentence)
    # The findings' own wording reached the formats that list every finding.
    assert all("«" in rendered[name] for name in ("report.html", "report.sarif"))


def test_every_check_has_advice_in_general_words() -> None:
    for check, info in check_table().items():
        assert info.advice and not SLOT.search(info.advice), check
        assert not slots(info.advice), check


def test_sentences_a_named_fill_would_make_are_found(tmp_path: Path) -> None:
    """The search above would have caught the old wording."""
    flip = check_table()["explain.counterfactual_flip"].recommendation
    assert "People who differ only in attribute get different decisions" in " ".join(
        named_fill_sentences(flip)
    )
