"""Small inline SVG charts (a histogram, line curves) for the HTML reports: plain markup, no script,
no external reference (inline SVG in HTML needs no namespace URL either), so a report is one file
that opens anywhere."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 60, 20, 20, 40
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf")


def _scale(value: float, low: float, high: float, out_low: float, out_high: float) -> float:
    if high == low:
        return (out_low + out_high) / 2
    return out_low + (value - low) / (high - low) * (out_high - out_low)


def _frame(title: str, x_label: str, y_label: str) -> list[str]:
    return [
        f'<svg width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}" stroke="#333"/>',
        f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 6}" text-anchor="middle" '
        f'font-size="12">{escape(x_label)}</text>',
        f'<text x="14" y="{(TOP + HEIGHT - BOTTOM) / 2}" text-anchor="middle" font-size="12" '
        f'transform="rotate(-90 14 {(TOP + HEIGHT - BOTTOM) / 2})">{escape(y_label)}</text>',
    ]


def _tick(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="10">{escape(text)}</text>'


def histogram_svg(edges: Sequence[float], counts: Sequence[int], title: str, x_label: str) -> str:
    """Bars of `counts` between consecutive `edges`."""
    parts = _frame(title, x_label, "fills")
    if not counts:
        parts.append(_tick(WIDTH / 2, HEIGHT / 2, "no fills"))
        return "\n".join([*parts, "</svg>"])
    top = max(counts)
    x0, x1 = edges[0], edges[-1]
    for low, high, count in zip(edges, edges[1:], counts, strict=False):
        left = _scale(low, x0, x1, LEFT, WIDTH - RIGHT)
        right = _scale(high, x0, x1, LEFT, WIDTH - RIGHT)
        y = _scale(count, 0, top, HEIGHT - BOTTOM, TOP)
        parts.append(
            f'<rect class="bar" x="{left + 1:.1f}" y="{y:.1f}" width="{max(right - left - 2, 1):.1f}" '
            f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{COLORS[0]}"><title>{low:.2f} to {high:.2f} bps: '
            f"{count}</title></rect>"
        )
    for value in (x0, (x0 + x1) / 2, x1):
        parts.append(_tick(_scale(value, x0, x1, LEFT, WIDTH - RIGHT), HEIGHT - BOTTOM + 14, f"{value:.1f}"))
    parts.append(_tick(LEFT - 6, TOP + 4, str(top), "end"))
    parts.append(_tick(LEFT - 6, HEIGHT - BOTTOM, "0", "end"))
    return "\n".join([*parts, "</svg>"])


def curves_svg(
    xs: Sequence[float], series: Mapping[str, Sequence[float | None]], title: str, x_label: str
) -> str:
    """One polyline per series over `xs` (None values are skipped), with a zero line and a legend."""
    parts = _frame(title, x_label, "bps")
    values = [v for ys in series.values() for v in ys if v is not None]
    if not values or not xs:
        parts.append(_tick(WIDTH / 2, HEIGHT / 2, "no markouts yet"))
        return "\n".join([*parts, "</svg>"])
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = (high - low) * 0.1 or 1.0
    low, high = low - pad, high + pad
    # a square-root time axis: the first seconds after a fill, where most of the move happens, get room
    x0, x1 = math.sqrt(max(min(xs), 0)), math.sqrt(max(max(xs), 0))

    def x_at(x: float) -> float:
        return _scale(math.sqrt(max(x, 0)), x0, x1, LEFT, WIDTH - RIGHT)

    def px(x: float, y: float) -> str:
        return f"{x_at(x):.1f},{_scale(y, low, high, HEIGHT - BOTTOM, TOP):.1f}"

    zero = _scale(0.0, low, high, HEIGHT - BOTTOM, TOP)
    parts.append(
        f'<line x1="{LEFT}" y1="{zero:.1f}" x2="{WIDTH - RIGHT}" y2="{zero:.1f}" stroke="#999" stroke-dasharray="4 3"/>'
    )
    for i, (name, ys) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        points = [px(x, y) for x, y in zip(xs, ys, strict=False) if y is not None]
        parts.append(
            f'<polyline class="curve" fill="none" stroke="{color}" stroke-width="2" points="{" ".join(points)}"/>'
        )
        for point in points:
            cx, cy = point.split(",")
            parts.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{color}"/>')
        parts.append(
            f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 12 + 14 * i}" text-anchor="end" font-size="11" '
            f'fill="{color}">{escape(name)}</text>'
        )
    for x in xs:
        parts.append(_tick(x_at(x), HEIGHT - BOTTOM + 14, f"{x:g}"))
    parts.append(_tick(LEFT - 6, TOP + 4, f"{high:.1f}", "end"))
    parts.append(_tick(LEFT - 6, HEIGHT - BOTTOM, f"{low:.1f}", "end"))
    return "\n".join([*parts, "</svg>"])
