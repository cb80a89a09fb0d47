"""Inline SVG charts, written by hand: a few rectangles need no plotting library, and the
report must stay self-contained (no scripts, no fonts from the network)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

ROW_HEIGHT = 22
LABEL_WIDTH = 220
PLOT_WIDTH = 360
VALUE_WIDTH = 150
RIGHT_PADDING = 14  # room for the last tick's text when no values follow the plot
CHAR_WIDTH = 6.6  # average width of a 12px label character, to shorten labels that overflow


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    interval: tuple[float, float] | None
    note: str = ""  # shown instead of a bar, e.g. "insufficient data"


def shorten(label: str, width: float) -> str:
    """``label`` cut with an ellipsis to fit ``width`` pixels."""
    limit = max(4, int(width / CHAR_WIDTH))
    return label if len(label) <= limit else label[: limit - 1] + "…"


def svg_open(title: str, width: int, height: int) -> list[str]:
    """The opening of an accessible inline SVG chart: its tag and its title."""
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
    ]


def whisker(low: float, high: float, middle: float) -> str:
    """An interval from x ``low`` to x ``high`` at height ``middle``, with end caps."""
    return (
        f'<line x1="{low:.1f}" y1="{middle:.1f}" x2="{high:.1f}" y2="{middle:.1f}" '
        'class="whisker"/>'
        f'<line x1="{low:.1f}" y1="{middle - 5:.1f}" x2="{low:.1f}" y2="{middle + 5:.1f}" '
        'class="whisker"/>'
        f'<line x1="{high:.1f}" y1="{middle - 5:.1f}" x2="{high:.1f}" y2="{middle + 5:.1f}" '
        'class="whisker"/>'
    )


def interval_bars(
    title: str,
    bars: list[Bar],
    reference_line: float | None = None,
    reference_label: str | None = None,
    *,
    label_width: int = LABEL_WIDTH,
    plot_width: int = PLOT_WIDTH,
    show_values: bool = True,
) -> Markup:
    """Horizontal bars on [0, 1] with interval whiskers.

    With ``show_values`` every value and interval is also printed as text, so nothing is told
    by length alone; without it the caller must show the numbers beside the chart (a table).
    A reference line is dashed and, given ``reference_label``, labelled above the plot.
    """
    top_margin = 16 if reference_line is not None and reference_label else 0
    height = ROW_HEIGHT * len(bars) + 30 + top_margin
    width = label_width + plot_width + (VALUE_WIDTH if show_values else RIGHT_PADDING)
    bottom = height - 24

    def x(value: float) -> float:
        return label_width + max(0.0, min(1.0, value)) * plot_width

    parts = [
        *svg_open(title, width, height),
        f'<line x1="{label_width}" y1="{top_margin}" x2="{label_width}" y2="{bottom}" '
        'class="axis"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{tick:g}</text>"
        )
    if reference_line is not None:
        parts.append(
            f'<line x1="{x(reference_line):.1f}" y1="{top_margin}" '
            f'x2="{x(reference_line):.1f}" y2="{bottom}" class="reference"/>'
        )
        if reference_label:
            parts.append(
                f'<text x="{x(reference_line):.1f}" y="11" text-anchor="middle" '
                f'class="reference-label">{escape(reference_label)}</text>'
            )
    for row, bar in enumerate(bars):
        top = top_margin + row * ROW_HEIGHT + 4
        middle = top + ROW_HEIGHT / 2 - 2
        parts.append(
            f'<text x="{label_width - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(shorten(bar.label, label_width - 10))}</text>"
        )
        if bar.value is None:
            parts.append(
                f'<text x="{label_width + 6}" y="{middle + 4:.1f}" class="note">'
                f"{escape(bar.note or 'undefined')}</text>"
            )
            continue
        parts.append(
            f'<rect x="{label_width}" y="{top + 3}" width="{x(bar.value) - label_width:.1f}" '
            f'height="{ROW_HEIGHT - 10}" class="bar"/>'
        )
        text = f"{bar.value:.3f}"
        if bar.interval is not None:
            low, high = bar.interval
            parts.append(whisker(x(low), x(high), middle))
            text += f" [{low:.3f}, {high:.3f}]"
        if show_values:
            parts.append(
                f'<text x="{label_width + plot_width + 8}" y="{middle + 4:.1f}" class="value">'
                f"{escape(text)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
