"""Inline SVG charts, written by hand: a few rectangles need no plotting library, and the
report must stay self-contained (no scripts, no fonts from the network)."""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

ROW_HEIGHT = 22
LABEL_WIDTH = 220
PLOT_WIDTH = 360
VALUE_WIDTH = 150


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    interval: tuple[float, float] | None
    note: str = ""  # shown instead of a bar, e.g. "insufficient data"


def interval_bars(title: str, bars: list[Bar], reference_line: float | None = None) -> Markup:
    """Horizontal bars on [0, 1] with interval whiskers; every value is also printed as text,
    so nothing is told by colour or length alone."""
    height = ROW_HEIGHT * len(bars) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH

    def x(value: float) -> float:
        return LABEL_WIDTH + max(0.0, min(1.0, value)) * PLOT_WIDTH

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}" class="chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height - 24}" class="axis"/>',
    ]
    for tick in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{x(tick):.1f}" y="{height - 8}" class="tick" text-anchor="middle">'
            f"{tick:g}</text>"
        )
    if reference_line is not None:
        parts.append(
            f'<line x1="{x(reference_line):.1f}" y1="0" x2="{x(reference_line):.1f}" '
            f'y2="{height - 24}" class="reference"/>'
        )
    for row, bar in enumerate(bars):
        top = row * ROW_HEIGHT + 4
        middle = top + ROW_HEIGHT / 2 - 2
        label = bar.label if len(bar.label) <= 32 else bar.label[:31] + "…"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{middle + 4:.1f}" text-anchor="end" class="label">'
            f"{escape(label)}</text>"
        )
        if bar.value is None:
            parts.append(
                f'<text x="{LABEL_WIDTH + 6}" y="{middle + 4:.1f}" class="note">'
                f"{escape(bar.note or 'undefined')}</text>"
            )
            continue
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{top + 3}" width="{x(bar.value) - LABEL_WIDTH:.1f}" '
            f'height="{ROW_HEIGHT - 10}" class="bar"/>'
        )
        text = f"{bar.value:.3f}"
        if bar.interval is not None:
            low, high = bar.interval
            parts.append(
                f'<line x1="{x(low):.1f}" y1="{middle:.1f}" x2="{x(high):.1f}" y2="{middle:.1f}" '
                'class="whisker"/>'
                f'<line x1="{x(low):.1f}" y1="{middle - 5:.1f}" x2="{x(low):.1f}" '
                f'y2="{middle + 5:.1f}" class="whisker"/>'
                f'<line x1="{x(high):.1f}" y1="{middle - 5:.1f}" x2="{x(high):.1f}" '
                f'y2="{middle + 5:.1f}" class="whisker"/>'
            )
            text += f" [{low:.3f}, {high:.3f}]"
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 8}" y="{middle + 4:.1f}" class="value">'
            f"{escape(text)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
