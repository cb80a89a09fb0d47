"""The text section of report.html: inline SVG charts, shaded sentences and the rows of its
tables.

``text_view(result)`` turns ``result.text`` into what ``templates/text.html.j2`` shows:
counterfactual score gaps and flip rates with their intervals, each template term's mean score
as a dot plot, subgroup/BPSN/BNSP AUCs per identity group, PII insertions, and attributed
sentences. Charts are hand-written SVG like ``reports.charts``; every number a chart shows is
also in a table beside it, and nothing is told by colour alone (marker shapes, signs, words).
Texts and terms come from the user's data and files: everything is escaped here or by Jinja2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from markupsafe import Markup, escape

from audit.core.result import AuditResult
from audit.text.results import (
    AttributedText,
    AttributionExample,
    SubgroupAuc,
    SwapResult,
    TermProbe,
    TextReport,
)
from reports.charts import Bar, interval_bars, shorten, svg_open, whisker
from reports.explain_charts import COLOURS, _marker

ROW_HEIGHT = 22
LABEL_WIDTH = 280
PLOT_WIDTH = 340
VALUE_WIDTH = 190
AUC_METRICS = ("subgroup_auc", "bpsn_auc", "bnsp_auc")
AUC_NAMES = {"subgroup_auc": "Subgroup AUC", "bpsn_auc": "BPSN AUC", "bnsp_auc": "BNSP AUC"}
# One marker shape per AUC metric: the shape alone tells them apart.
AUC_MARKERS = {"subgroup_auc": "circle", "bpsn_auc": "square", "bnsp_auc": "triangle"}
PART_NAMES = {
    "identity": "Identity terms",
    "counterfactual": "Counterfactual substitution",
    "templates": "Templated probes",
    "subgroup_auc": "Subgroup AUCs",
    "pii": "PII in text",
    "attributions": "Token attributions",
}
METHOD_NAMES = {
    "layer_integrated_gradients": "Layer Integrated Gradients",
    "feature_ablation": "Feature ablation",
}
# Tokens whose attribution is below this share of the largest in their example get no sign:
# their shade is too light to read and their sign is noise.
SIGN_SHARE = 0.05

# Styles of the shaded sentences; the page's own stylesheet has no rules for them.
TEXT_CSS = """
.tokens { line-height: 2.1; margin: 0.2rem 0 0.6rem; }
.tok { padding: 0.1rem 0.2rem; border-radius: 3px; border: 1px solid transparent; }
.tok .sign { font-size: 0.72em; vertical-align: super; margin-left: 0.1em; font-weight: 700; }
.tok.identity { border: 2px solid #111; }
.tok.unknown { text-decoration: underline dashed; }
.tok .unk { font-size: 0.72em; vertical-align: super; font-style: italic; }
.legend-swatch { display: inline-block; padding: 0 0.3rem; border-radius: 3px; }
.attribution-example { border-top: 1px solid var(--line); padding-top: 0.3rem; }
details > summary { cursor: pointer; }
@media print { .attribution-example { break-inside: avoid; } }
"""


def _signed_limit(values: list[float]) -> float:
    """A round half-width for an axis centred on 0: the next step above the largest |value|."""
    largest = max([abs(value) for value in values if math.isfinite(value)] or [0.0])
    step = 0.05 if largest <= 0.25 else 0.1 if largest <= 0.5 else 0.25
    return min(1.0, max(0.05, math.ceil(largest / step - 1e-9) * step))


def signed_bars(
    title: str, bars: list[Bar], left_words: str, right_words: str, *, digits: int = 3
) -> Markup:
    """Horizontal bars from 0 to a signed value, with interval whiskers, on an axis centred on
    0. The value and its interval are printed beside each bar; a bar without a value shows its
    note. ``left_words`` and ``right_words`` say what each side of 0 means."""
    ends = [v for bar in bars for v in (bar.value, *(bar.interval or ())) if v is not None]
    limit = _signed_limit(ends)
    height = ROW_HEIGHT * len(bars) + 48
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    bottom = height - 40

    def x(value: float) -> float:
        return LABEL_WIDTH + (max(-limit, min(limit, value)) + limit) / (2 * limit) * PLOT_WIDTH

    zero = x(0.0)
    parts = svg_open(title, width, height)
    parts.append(f'<line x1="{zero:.1f}" y1="0" x2="{zero:.1f}" y2="{bottom}" class="axis"/>')
    for tick in (-limit, -limit / 2, 0.0, limit / 2, limit):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{bottom + 14}" class="tick" text-anchor="middle">'
            f"{tick:+.3g}</text>"
            if tick
            else f'<text x="{x(tick):.1f}" y="{bottom + 14}" class="tick" '
            'text-anchor="middle">0</text>'
        )
    parts.append(
        f'<text x="{LABEL_WIDTH}" y="{height - 6}" class="note">← {escape(left_words)}</text>'
        f'<text x="{LABEL_WIDTH + PLOT_WIDTH}" y="{height - 6}" class="note" '
        f'text-anchor="end">{escape(right_words)} →</text>'
    )
    for row, bar in enumerate(bars):
        top = row * ROW_HEIGHT + 4
        middle = top + ROW_HEIGHT / 2 - 2
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(shorten(bar.label, LABEL_WIDTH - 10))}</text>"
        )
        if bar.value is None:
            parts.append(
                f'<text x="{LABEL_WIDTH + 6}" y="{middle + 4:.1f}" class="note">'
                f"{escape(bar.note or 'undefined')}</text>"
            )
            continue
        start, end = sorted((zero, x(bar.value)))
        parts.append(
            f'<rect x="{start:.1f}" y="{top + 3}" width="{end - start:.1f}" '
            f'height="{ROW_HEIGHT - 10}" class="bar"/>'
        )
        text = f"{bar.value:+.{digits}f}"
        if bar.interval is not None:
            low, high = bar.interval
            parts.append(whisker(x(low), x(high), middle))
            text += f" [{low:+.{digits}f}, {high:+.{digits}f}]"
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 8}" y="{middle + 4:.1f}" class="value">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Dot:
    label: str
    value: float | None  # None: a heading row (the group of the terms below it)
    hollow: bool = False  # drawn as an open square: the term is unknown to the model


def dot_plot(title: str, dots: list[Dot], reference: float, reference_label: str) -> Markup:
    """One dot per term on a [0, 1] score axis, the category's mean as a dashed line; terms
    unknown to the model are open squares (and named so in the legend and the table)."""
    top_margin = 18
    height = ROW_HEIGHT * len(dots) + 30 + top_margin
    width = LABEL_WIDTH + PLOT_WIDTH + 70
    bottom = height - 24

    def x(value: float) -> float:
        return LABEL_WIDTH + max(0.0, min(1.0, value)) * PLOT_WIDTH

    parts = svg_open(title, width, height)
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{top_margin}" x2="{LABEL_WIDTH}" y2="{bottom}" '
        'class="axis"/>'
        f'<line x1="{x(reference):.1f}" y1="{top_margin}" x2="{x(reference):.1f}" '
        f'y2="{bottom}" class="reference"/>'
        f'<text x="{x(reference):.1f}" y="12" text-anchor="middle" class="reference-label">'
        f"{escape(reference_label)}</text>"
    )
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{tick:g}</text>"
        )
    for row, dot in enumerate(dots):
        middle = top_margin + row * ROW_HEIGHT + ROW_HEIGHT / 2
        if dot.value is None:
            parts.append(
                f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" '
                f'class="label" font-weight="700">'
                f"{escape(shorten(dot.label, LABEL_WIDTH - 10))}</text>"
            )
            continue
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(shorten(dot.label, LABEL_WIDTH - 10))}</text>"
            f'<line x1="{LABEL_WIDTH}" y1="{middle:.1f}" x2="{LABEL_WIDTH + PLOT_WIDTH}" '
            f'y2="{middle:.1f}" stroke="#e5e5e5"/>'
        )
        cx = x(dot.value)
        if dot.hollow:
            parts.append(
                f'<rect x="{cx - 4.5:.1f}" y="{middle - 4.5:.1f}" width="9" height="9" '
                f'fill="#fff" stroke="{COLOURS[1]}" stroke-width="2"/>'
            )
        else:
            parts.append(_marker("circle", cx, middle, COLOURS[0]))
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 8}" y="{middle + 4:.1f}" class="value">'
            f"{dot.value:.3f}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def auc_chart(title: str, groups: list[tuple[str, SubgroupAuc]], overall: float) -> Markup:
    """Per identity group, its subgroup, BPSN and BNSP AUC (one marker shape each, named in
    the legend) with intervals, against the overall AUC as a dashed line."""
    lows = [
        value
        for _, group in groups
        for metric in AUC_METRICS
        for value in (group.metrics.get(metric), *(group.ci.get(metric) or ()))
        if value is not None
    ]
    start = min(0.5, math.floor(min([*lows, overall]) * 10) / 10)
    legend_height = 22
    sub = 8  # the three metrics of a group sit on three lines of its row
    row_height = 3 * sub + 12
    height = legend_height + row_height * len(groups) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + 20
    bottom = height - 24

    def x(value: float) -> float:
        return LABEL_WIDTH + (max(start, min(1.0, value)) - start) / (1.0 - start) * PLOT_WIDTH

    parts = svg_open(title, width, height)
    for index, metric in enumerate(AUC_METRICS):
        left = LABEL_WIDTH + 8 + index * 110
        parts.append(_marker(AUC_MARKERS[metric], left, 10, COLOURS[index]))
        parts.append(f'<text x="{left + 10}" y="14" class="label">{AUC_NAMES[metric]}</text>')
    parts.append(
        f'<line x1="{LABEL_WIDTH}" y1="{legend_height}" x2="{LABEL_WIDTH}" y2="{bottom}" '
        'class="axis"/>'
        f'<line x1="{x(overall):.1f}" y1="{legend_height}" x2="{x(overall):.1f}" '
        f'y2="{bottom}" class="reference"/>'
    )
    steps = round((1.0 - start) / 0.1)
    for index in range(steps + 1):
        tick = start + index * 0.1
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{tick:.1f}</text>"
        )
    for row, (label, group) in enumerate(groups):
        row_top = legend_height + row * row_height + 6
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{row_top + sub + 8:.1f}" text-anchor="end" '
            f'class="label">{escape(shorten(label, LABEL_WIDTH - 10))}</text>'
        )
        for index, metric in enumerate(AUC_METRICS):
            value = group.metrics.get(metric)
            middle = row_top + index * sub + 4
            if value is None:
                continue
            interval = group.ci.get(metric)
            if interval is not None:
                parts.append(
                    f'<line x1="{x(interval[0]):.1f}" y1="{middle}" x2="{x(interval[1]):.1f}" '
                    f'y2="{middle}" stroke="{COLOURS[index]}" stroke-width="1.5"/>'
                )
            parts.append(_marker(AUC_MARKERS[metric], x(value), middle, COLOURS[index]))
    parts.append("</svg>")
    return Markup("".join(parts))


# --- shaded sentences -----------------------------------------------------------------------


def shaded_tokens(text: AttributedText, scale: float, positive_label: str) -> Markup:
    """The text's tokens, each shaded by its attribution (blue towards ``positive_label``,
    orange away from it; stronger is darker) with a + or − sign, identity tokens outlined and
    tokens unknown to the model marked "unk". The sign, outline and mark say what the colours
    say, so nothing is told by colour alone."""
    spans = []
    for token in text.tokens:
        share = abs(token.attribution) / scale if scale > 0 else 0.0
        alpha = min(1.0, share) * 0.75
        colour = "31, 78, 121" if token.attribution >= 0 else "180, 83, 9"
        classes = ["tok"] + (["identity"] if token.identity else [])
        classes += [] if token.known else ["unknown"]
        sign = ""
        if share >= SIGN_SHARE:
            sign = "+" if token.attribution > 0 else "−"
        label = (
            f"{token.token}: attribution {token.attribution:+.4f}"
            f"{', identity term' if token.identity else ''}"
            f"{', unknown to the model' if not token.known else ''}"
        )
        inner = escape(token.token)
        if sign:
            inner += Markup('<span class="sign" aria-hidden="true">{}</span>').format(sign)
        if not token.known:
            inner += Markup('<span class="unk" aria-hidden="true">unk</span>')
        # Dark shades get light text so that the token stays readable.
        ink = "color: #fff; " if alpha > 0.45 else ""
        spans.append(
            Markup(
                '<span class="{}" style="{}background-color: rgba({}, {:.2f})" title="{}">{}</span>'
            ).format(" ".join(classes), ink, colour, alpha, label, inner)
        )
    return Markup('<span class="tokens">{}</span>').format(Markup(" ").join(spans))


@dataclass(frozen=True)
class ExampleView:
    example: AttributionExample
    category: str
    original: Markup
    swapped: Markup
    # Per token position: original token, its attribution, swapped token, its attribution.
    rows: list[tuple[str, float | None, str, float | None, bool, bool]]


def _example_view(example: AttributionExample, category: str, positive: str) -> ExampleView:
    everything = [*example.original.tokens, *example.swapped.tokens]
    scale = max((abs(token.attribution) for token in everything), default=0.0)
    rows = []
    for position in range(max(len(example.original.tokens), len(example.swapped.tokens))):
        first = (
            example.original.tokens[position] if position < len(example.original.tokens) else None
        )
        second = (
            example.swapped.tokens[position] if position < len(example.swapped.tokens) else None
        )
        rows.append(
            (
                first.token if first else "",
                first.attribution if first else None,
                second.token if second else "",
                second.attribution if second else None,
                bool((first and first.identity) or (second and second.identity)),
                bool((first and not first.known) or (second and not second.known)),
            )
        )
    return ExampleView(
        example=example,
        category=category,
        original=shaded_tokens(example.original, scale, positive),
        swapped=shaded_tokens(example.swapped, scale, positive),
        rows=rows,
    )


# --- the view -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SwapRow:
    swap: SwapResult
    category: str  # in words
    label: str  # "first → second"
    unknown_terms: tuple[str, ...]  # terms the model reads as the unknown token
    disfavoured: str  # the term or group (in words) judged more adversely, or "–"


@dataclass(frozen=True)
class TemplateCategory:
    category: str  # in words
    probe: Any  # CategoryProbe
    terms: list[TermProbe]
    chart: Markup


@dataclass(frozen=True)
class TextView:
    text: TextReport
    level: int
    other_label: str  # the class a low score stands for
    category_label: dict[str, str]
    group_label: dict[tuple[str, str], str]
    swap_categories: list[dict[str, Any]]
    group_swaps: list[SwapRow]
    group_swaps_small: list[SwapRow]
    pairs: list[SwapRow]
    pairs_small: list[SwapRow]
    group_gap_chart: Markup | None
    group_flip_chart: Markup | None
    pair_gap_chart: Markup | None
    pair_flip_chart: Markup | None
    templates: list[TemplateCategory]
    auc_rows: list[tuple[str, str, SubgroupAuc]]  # category in words, group label, result
    # Groups mentioned in too few texts for any AUC: one line, not a row of "undefined" each.
    auc_small: list[tuple[str, str, SubgroupAuc]]
    auc_chart: Markup | None
    pii_chart: Markup | None
    attribution_terms: list[tuple[str, str, Any]]  # category, group label, TermAttribution
    examples: list[ExampleView]
    parts: list[tuple[str, str, str | None, float | None]]  # name, status, reason, seconds


def _swap_rows(
    swaps: tuple[SwapResult, ...], categories: dict[str, str], groups: dict[tuple[str, str], str]
) -> list[SwapRow]:
    rows = []
    for swap in swaps:
        if swap.terms:
            first, second = swap.terms[0], swap.terms[-1]
            unknown = tuple(
                term
                for term, known in zip(swap.terms, swap.in_vocabulary, strict=False)
                if not known
            )
        else:
            first = groups.get((swap.category, swap.groups[0]), swap.groups[0])
            second = groups.get((swap.category, swap.groups[1]), swap.groups[1])
            unknown = ()
        disfavoured = swap.disfavoured or "–"
        if swap.disfavoured and not swap.terms:
            disfavoured = groups.get((swap.category, swap.disfavoured), swap.disfavoured)
        rows.append(
            SwapRow(
                swap,
                categories.get(swap.category, swap.category),
                f"{first} → {second}",
                unknown,
                disfavoured,
            )
        )
    return rows


def _swap_charts(
    rows: list[SwapRow], what: str, level: int, positive: str, other: str
) -> tuple[Markup | None, Markup | None]:
    if not rows:
        return None, None
    labelled = [(row.label, row.swap) for row in rows]
    gap = signed_bars(
        f"Mean score change, second minus first, per {what}, with {level}% intervals",
        [Bar(label, swap.score_gap, swap.score_gap_ci) for label, swap in labelled],
        f"towards {other}",
        f"towards {positive}",
    )
    flips = interval_bars(
        f"Share of decisions flipped per {what}, with {level}% intervals",
        [Bar(label, swap.flip_rate, swap.flip_rate_ci) for label, swap in labelled],
        label_width=LABEL_WIDTH,
    )
    return gap, flips


def text_view(result: AuditResult) -> TextView | None:
    """What the section shows, or None when the audit is not a text audit."""
    text = getattr(result, "text", None)
    if text is None:
        return None
    level = round(result.run.confidence_level * 100)
    positive = text.model.positive_label
    other = (
        text.model.adverse_label if text.model.adverse_decision == "negative" else "not " + positive
    )
    categories = dict(text.identity.categories)
    groups = {(g.category, g.group): g.label for g in text.identity.groups}

    counterfactual = text.counterfactual
    group_swaps = _swap_rows(counterfactual.group_swaps, categories, groups)
    pairs = _swap_rows(counterfactual.pairs, categories, groups)
    measured_groups = [row for row in group_swaps if row.swap.status == "ok"]
    measured_pairs = [row for row in pairs if row.swap.status == "ok"]
    group_gap, group_flip = _swap_charts(measured_groups, "pair of groups", level, positive, other)
    pair_gap, pair_flip = _swap_charts(measured_pairs, "term pair", level, positive, other)

    templates = []
    for probe in text.templates.categories:
        terms = [term for term in text.templates.terms if term.category == probe.category]
        label = categories.get(probe.category, probe.category)
        dots = []
        for group in dict.fromkeys(term.group for term in terms):
            dots.append(Dot(groups.get((probe.category, group), group), None))
            dots.extend(
                Dot(term.term, term.mean_score, not term.in_vocabulary)
                for term in terms
                if term.group == group
            )
        chart = dot_plot(
            f"Mean score of each {label} term in {probe.templates} neutral sentences",
            dots,
            probe.mean_score,
            f"category mean {probe.mean_score:.3f}",
        )
        templates.append(TemplateCategory(label, probe, terms, chart))

    auc = text.subgroup_auc
    every_auc_row = [
        (categories.get(g.category, g.category), groups.get((g.category, g.group), g.group), g)
        for g in auc.groups
    ]
    auc_rows = [row for row in every_auc_row if row[2].status != "insufficient_data"]
    auc_small = [row for row in every_auc_row if row[2].status == "insufficient_data"]
    charted = [
        (f"{label} ({category})", group)
        for category, label, group in auc_rows
        if any(group.metrics.get(metric) is not None for metric in AUC_METRICS)
    ]
    auc_figure = (
        auc_chart(
            f"Subgroup, BPSN and BNSP AUC per identity group, with {level}% intervals",
            charted,
            auc.overall_auc,
        )
        if charted and auc.overall_auc is not None
        else None
    )

    insertions = text.pii.insertions
    pii_chart = (
        signed_bars(
            f"Mean score change when personal data is inserted, with {level}% intervals",
            [Bar(item.label, item.mean_change, item.mean_change_ci) for item in insertions],
            f"towards {other}",
            f"towards {positive}",
        )
        if insertions
        else None
    )

    attributions = text.attributions
    attribution_terms = sorted(
        (
            (categories.get(t.category, t.category), groups.get((t.category, t.group), t.group), t)
            for t in attributions.terms
        ),
        key=lambda row: (row[0], -abs(row[2].mean_attribution)),
    )
    examples = [
        _example_view(example, categories.get(example.category, example.category), positive)
        for example in attributions.examples
    ]
    parts: list[tuple[str, str, str | None, float | None]] = [
        (PART_NAMES["identity"], "ok", None, text.seconds.get("identity"))
    ]
    for key in ("counterfactual", "templates", "subgroup_auc", "pii", "attributions"):
        part = getattr(text, key)
        parts.append((PART_NAMES[key], part.status, part.reason, text.seconds.get(key)))
    if text.pii.scan_status != "ok":
        parts.append(("PII scan of the texts", text.pii.scan_status, text.pii.scan_reason, None))
    return TextView(
        text=text,
        level=level,
        other_label=other,
        category_label=categories,
        group_label=groups,
        swap_categories=[
            {"category": categories.get(c.category, c.category), "swaps": c}
            for c in counterfactual.categories
        ],
        group_swaps=measured_groups,
        group_swaps_small=[row for row in group_swaps if row.swap.status != "ok"],
        pairs=measured_pairs,
        pairs_small=[row for row in pairs if row.swap.status != "ok"],
        group_gap_chart=group_gap,
        group_flip_chart=group_flip,
        pair_gap_chart=pair_gap,
        pair_flip_chart=pair_flip,
        templates=templates,
        auc_rows=auc_rows,
        auc_small=auc_small,
        auc_chart=auc_figure,
        pii_chart=pii_chart,
        attribution_terms=attribution_terms,
        examples=examples,
        parts=parts,
    )


def method_name(method: str | None) -> str:
    return "–" if method is None else METHOD_NAMES.get(method, method)
