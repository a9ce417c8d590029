"""`sequence tca --html FILE`: the TCA report as one self-contained HTML file (inline CSS and SVG, no
script, no external reference), so it can be mailed or archived and opened offline."""

from __future__ import annotations

import datetime as dt
from html import escape

from .svg import curves_svg, histogram_svg
from .tca import CostSummary, TcaReport, histogram

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
.note { color: #666; font-size: 0.9em; }
figure { margin: 1.5em 0; }
"""


def _num(value: float | None, digits: int = 2, suffix: str = "") -> str:
    return "-" if value is None else f"{value:,.{digits}f}{suffix}"


def _row(name: str, s: CostSummary, horizons: list[str]) -> str:
    cells = [
        escape(name),
        str(s.orders),
        str(s.fills),
        _num(s.notional),
        _num(s.share * 100 if s.share is not None else None, 1, "%"),
        _num(s.fill_rate * 100 if s.fill_rate is not None else None, 1, "%"),
        _num(s.slippage_bps),
        _num(s.fees, 4),
        _num(s.fees_bps),
        *(_num(s.markouts_bps.get(h)) for h in horizons),
    ]
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_html(report: TcaReport, title: str, horizons: list[int]) -> str:
    keys = [str(h) for h in horizons]
    head = [
        "venue",
        "orders",
        "fills",
        "notional",
        "share",
        "fill rate",
        "slippage bps",
        "fees",
        "fees bps",
        *(f"markout {h}s bps" for h in horizons),
    ]
    rows = [_row(venue, s, keys) for venue, s in report.venues.items()]
    rows.append(_row("all venues", report.total, keys))
    slippages = [f.slippage_bps for f in report.fills if f.slippage_bps is not None]
    edges, counts = histogram(slippages)
    hist = histogram_svg(edges, counts, "Slippage against the arrival mid", "slippage (bps, positive = cost)")
    series = {name: values for name, values in report.curve_bps.items() if any(v is not None for v in values)}
    curve = curves_svg(report.curve_s, series, "Markout after the fill", "seconds after the fill")
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    scope = f"symbol {escape(report.symbol)}" if report.symbol else "all symbols"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{escape(title)}</h1>
<p class="note">Deployments {escape(", ".join(report.deployments) or "-")}; {scope}; generated {generated}.
Slippage and markouts are in basis points, weighted by notional; slippage is positive when it cost,
a markout positive when the mid moved our way after the fill.</p>
<table>
<thead><tr>{"".join(f"<th>{escape(h)}</th>" for h in head)}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
<figure id="slippage">
{hist}
<figcaption>Distribution of the fills' slippage against the mid when the order arrived.</figcaption>
</figure>
<figure id="markouts">
{curve}
<figcaption>Mean markout by venue, from the moment of the fill to 60 s after it.</figcaption>
</figure>
</body>
</html>
"""
