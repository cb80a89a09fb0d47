"""ll144.html, ll144.csv and ll144.json: the New York City Local Law 144 bias-audit pack.

Three files of one pack (audit.regulatory): a page to publish (self-contained, inline CSS, no
scripts), a table to check the figures in, and the pack as JSON, validated against the report
schema's ``ll144`` section. See docs/regulators.md.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from audit.core.result import AuditResult
from audit.core.serialize import ll144_json
from audit.regulatory.results import CategoryTable, LL144Pack
from reports.html_report import _load_template, environment

TITLES = {
    "sex": "Sex",
    "race_ethnicity": "Race/ethnicity",
    "intersectional": "Intersectional: sex × race/ethnicity",
}
CALLOUT_CSS = (
    ".callout { border: 2px solid var(--fail); background: var(--fail-bg); "
    "padding: 0.6rem 0.8rem; }"
)
CSV_COLUMNS = (
    "dimension",
    "category",
    "applicants",
    "selected",
    "rate",
    "impact_ratio",
    "p_value",
    "shortfall",
    "share",
    "excluded_from_impact_ratio",
    "reason",
)
UNKNOWN_REASON = "unknown category (a missing or unmapped value): in no category, not rated"


def _pack(result: AuditResult) -> LL144Pack:
    if result.ll144 is None:
        raise ValueError(
            "the audit has no ll144 pack: run it with --format ll144 (AuditRequest(ll144=True))"
        )
    return result.ll144


def _label(category: tuple[str, ...]) -> str:
    return " × ".join(category)


def _p_value(p_value: float) -> str:
    return "< 0.001" if p_value < 0.001 else f"{p_value:.3f}"


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def _words(pack: LL144Pack) -> dict[str, str]:
    if pack.mode == "scoring":
        median = f"{pack.median_score:.6g}"
        return {
            "rate_name": "scoring rate",
            "rate_heading": "Scoring rate",
            "chosen_heading": "Scored above median",
            "chosen_word": "highly scored",
            "mode_words": f"scoring tool: a score above the median ({median}) counts",
            "rate_definition": (
                "A category's scoring rate is the share of its applicants who scored above "
                f"the median score of all {pack.applicants:,} applicants ({median})."
            ),
        }
    return {
        "rate_name": "selection rate",
        "rate_heading": "Selection rate",
        "chosen_heading": "Selected",
        "chosen_word": "selected",
        "mode_words": "binary decision tool: the positive decision selects",
        "rate_definition": (
            "A category's selection rate is the share of its applicants the tool selected."
        ),
    }


def _table_view(table: CategoryTable, applicants: int) -> dict[str, Any]:
    return {
        "anchor": table.dimension,
        "title": TITLES[table.dimension],
        "columns": table.columns,
        "reference": _label(table.reference) if table.reference else None,
        "undefined": table.undefined,
        "rows": [
            {
                "category": _label(row.category),
                "applicants": row.applicants,
                "selected": row.selected,
                "rate": f"{row.rate:.4f}",
                "impact_ratio": (
                    f"{row.impact_ratio:.4f}" if row.impact_ratio is not None else "excluded"
                ),
                "p_value": "—" if row.p_value is None else _p_value(row.p_value),
                "shortfall": "—" if row.shortfall is None else f"{row.shortfall:,}",
                "share": _percent(row.share),
            }
            for row in table.categories
        ],
        "excluded": [
            {"category": _label(row.category), "reason": row.excluded}
            for row in table.categories
            if row.excluded
        ],
        "unknown": table.unknown,
        "unknown_selected": table.unknown_selected,
        "unknown_rate": f"{table.unknown_selected / table.unknown:.4f}" if table.unknown else "—",
        "unknown_share": _percent(table.unknown / applicants),
    }


def render_html(result: AuditResult) -> str:
    pack = _pack(result)
    context = {
        "css": _load_template("report.css") + CALLOUT_CSS,
        "pack": pack,
        "meta": pack.metadata,
        "tool_version": result.tool_version,
        "min_share": _percent(pack.min_share),
        "tables": [_table_view(table, pack.applicants) for table in pack.tables],
        **_words(pack),
    }
    return environment().get_template("ll144.html.j2").render(context)


def render_csv(result: AuditResult) -> str:
    """One row per category and table, then the table's unknown category; full precision."""
    pack = _pack(result)
    stream = io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for table in pack.tables:
        for row in table.categories:
            writer.writerow(
                (
                    table.dimension,
                    _label(row.category),
                    row.applicants,
                    row.selected,
                    repr(row.rate),
                    "" if row.impact_ratio is None else repr(row.impact_ratio),
                    "" if row.p_value is None else repr(row.p_value),
                    "" if row.shortfall is None else row.shortfall,
                    repr(row.share),
                    "yes" if row.excluded else "no",
                    row.excluded or "",
                )
            )
        writer.writerow(
            (
                table.dimension,
                "Unknown",
                table.unknown,
                table.unknown_selected,
                repr(table.unknown_selected / table.unknown) if table.unknown else "",
                "",
                "",
                "",
                repr(table.unknown / pack.applicants),
                "yes",
                UNKNOWN_REASON,
            )
        )
    return stream.getvalue()


class LL144Formatter:
    """Three files; ``render`` alone gives the page."""

    extension = "html"

    def render(self, result: AuditResult) -> str:
        return render_html(result)

    def render_files(self, result: AuditResult) -> dict[str, str]:
        return {
            "ll144.html": render_html(result),
            "ll144.csv": render_csv(result),
            "ll144.json": ll144_json(result),
        }
