"""report.annex-iv.md: the audit as sections of the technical documentation that the EU AI
Act's Annex IV asks of a high-risk AI system's provider (data, bias examination and its
measures, accuracy per group, robustness), ready to paste into that documentation.

The sections and the clauses that route findings to them are data (templates/annex_iv.toml).
The figures are the model card's (reports/model_card.py), so the two documents never disagree;
what only the provider knows is left as ``TODO(provider): ...`` placeholders.
"""

from __future__ import annotations

import functools
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from importlib import resources
from typing import Any

from audit.core.findings import Finding
from audit.core.result import AuditResult
from reports.markdown_report import MarkdownSafe, markdown_environment, seriousness, violation_ids
from reports.model_card import model_card_context

TODO = "TODO(provider):"
EU_AI_ACT = "EU AI Act "
# Per-group figures of the accuracy section: accuracy and the two error rates behind it.
ACCURACY_METRICS = ("accuracy", "true_positive_rate", "false_positive_rate")


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    annex: str
    articles: str
    clauses: tuple[str, ...]
    provider: str  # what the provider must add, after TODO(provider)

    def holds(self, finding: Finding) -> bool:
        return any(ref.startswith(self.clauses) for ref in finding.references)


@functools.cache
def sections() -> tuple[Section, ...]:
    text = resources.files("templates").joinpath("annex_iv.toml").read_text("utf-8")
    return tuple(
        Section(**{**entry, "clauses": tuple(entry["clauses"])})
        for entry in tomllib.loads(text)["sections"]
    )


def _clause_index(findings: tuple[Finding, ...]) -> list[dict[str, Any]]:
    """Each EU AI Act clause the findings cite, with the findings that cite it."""
    cited: dict[str, list[Finding]] = defaultdict(list)
    for finding in findings:
        for reference in finding.references:
            if reference.startswith(EU_AI_ACT):
                cited[reference.removeprefix(EU_AI_ACT)].append(finding)
    return [{"clause": clause, "findings": cited[clause]} for clause in sorted(cited)]


def annex_iv_context(result: AuditResult) -> dict[str, Any]:
    failing = violation_ids(result)
    ordered = sorted(result.findings, key=lambda finding: seriousness(finding, failing))
    card = model_card_context(result)
    return {
        **card,
        "todo": MarkdownSafe(f"`{TODO}`"),
        "sections": [
            {"section": section, "findings": [f for f in ordered if section.holds(f)]}
            for section in sections()
        ],
        "accuracy_metrics": [m for m in ACCURACY_METRICS if m in card["metric_columns"]],
        "clauses": _clause_index(result.findings),
    }


class AnnexIvFormatter:
    extension = "annex-iv.md"

    def render(self, result: AuditResult) -> str:
        template = markdown_environment().get_template("annex_iv.md.j2")
        return template.render(annex_iv_context(result))
