"""Server-rendered inline SVG line plots of a multi-person result's breakdowns (occlusion, orientation, x-location).

One plot per dimension: the protocol's bins along x, the official normalised body error (NMVE: mean / (1 - miss
rate)) up y, one line per method. A bin without a value (nobody in it, or nobody matched) breaks the line. The rows
come from ``Protocol.breakdowns`` of results the caller may show (revealed splits only). No JavaScript.
"""
from __future__ import annotations

from html import escape
from typing import Any

from leaderboard.web.charts import _clip, _nice_max

TITLES = {"occlusion": "Occlusion", "orientation": "Orientation", "x_location": "Distance from the image centre"}
COLOURS = ("#2f5bd3", "#e07b39", "#2a9d8f", "#9b5de5")  # the compare charts' series colours (site.css .s0-.s3)
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 360, 230, 40, 10, 16, 74
VALUE = "nmve"


def breakdown_chart_svg(dim: str, series: list[tuple[str, list[dict[str, Any]]]]) -> str:
    """One dimension's plot; ``series`` is [(method label, per-bin rows)]. Empty when no bin has a value."""
    values = [row.get(VALUE) for _, rows in series for row in rows]
    present = [float(v) for v in values if v is not None]
    if not present:
        return ""
    bins = [row["bin"] for row in series[0][1]]
    vmax = _nice_max(max(present))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(bins) - 1, 1)
    title = f"{TITLES.get(dim, dim)}: NMVE (body, mm) per bin"
    out = [f'<svg class="chart breakdown" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
           f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i in range(6):  # five steps: _nice_max's tops divide into round ticks
        y = TOP + plot_h * (1 - i / 5)
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                   f'<text x="{LEFT - 4}" y="{y + 3:.1f}" class="tick" text-anchor="end">{vmax * i / 5:g}</text>')
    for b, label in enumerate(bins):
        x = LEFT + b * step
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 8}" class="tick" text-anchor="end" '
                   f'transform="rotate(-45 {x:.1f} {TOP + plot_h + 8})">{escape(_short_bin(label))}</text>')
    for s, (name, rows) in enumerate(series[:len(COLOURS)]):
        colour = COLOURS[s]
        segment: list[str] = []
        for b, row in enumerate(rows + [{}]):  # the sentinel ends the last segment
            value = row.get(VALUE)
            if value is None:
                if len(segment) > 1:
                    out.append(f'<polyline points="{" ".join(segment)}" fill="none" stroke="{colour}" stroke-width="2"/>')
                segment = []
                continue
            x, y = LEFT + b * step, TOP + plot_h * (1 - min(float(value), vmax) / vmax)
            segment.append(f"{x:.1f},{y:.1f}")
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"><title>{escape(name)}, '
                       f'{escape(row["bin"])}: NMVE {float(value):.1f} mm, {row.get("people") or 0} people, '
                       f'miss rate {_percent(row.get("miss_rate"))}</title></circle>')
    legend_y = HEIGHT - 8
    for s, (name, _) in enumerate(series[:len(COLOURS)]):
        x = LEFT + (s % 2) * 160
        y = legend_y - 14 * (1 - s // 2) if len(series) > 2 else legend_y
        out.append(f'<rect x="{x}" y="{y - 8}" width="10" height="10" fill="{COLOURS[s]}"/>'
                   f'<text x="{x + 14}" y="{y}" class="legend">{escape(_clip(name, 26))}</text>')
    out.append("</svg>")
    return "".join(out)


def _short_bin(label: str) -> str:
    return label.replace(" of width", "")


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * float(value):.0f} %"


def breakdown_charts_html(protocol: Any, results: list[tuple[str, dict[str, Any]]]) -> str:
    """Every dimension's plot for ``results`` ([(method label, stored figures)]); "" for a protocol without
    breakdowns. Figures must come from results the viewer may see (the caller applies the visibility rule)."""
    tables = [(name, protocol.breakdowns(figures)) for name, figures in results]
    if not tables or not tables[0][1]:
        return ""
    plots = [(dim, breakdown_chart_svg(dim, [(name, t[dim]) for name, t in tables])) for dim in tables[0][1]]
    return "".join(f'<figure class="breakdown-plot"><figcaption>{escape(TITLES.get(dim, dim))}</figcaption>{svg}</figure>'
                   for dim, svg in plots if svg)


BOARD_LINES = len(COLOURS)


def board_breakdowns_html(version: Any, board: Any) -> str:
    """The breakdown plots of a benchmark board's first rows (as ranked now), cached per leaderboard version and
    board. Only rows the board shows, on the split it shows: the board's own visibility rules (revealed splits,
    phases) decide, nothing else is read."""
    from leaderboard.submissions import board_cache, cached_boards
    from leaderboard.submissions.models import BenchmarkResult

    if board.benchmark is None or board.split is None or not board.benchmark.get_protocol().breakdowns({}):
        return ""

    def render() -> str:
        rows = cached_boards.board_slice(version, board, 0, BOARD_LINES, keep=False).rows
        figures = dict(BenchmarkResult.objects.filter(benchmark=board.benchmark, split=board.split.name,
                                                      submission_id__in=[r.submission_id for r in rows])
                       .values_list("submission_id", "metrics"))
        return breakdown_charts_html(board.benchmark.get_protocol(),
                                     [(r.method_name, figures[r.submission_id]) for r in rows if r.submission_id in figures])

    return board_cache.cached(version, f"breakdowns:{board.key}", render)
