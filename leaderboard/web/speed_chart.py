"""Server-rendered inline SVG scatter of accuracy against speed on the overall page: MPE (mm) vs ms per image.

One point per board row that has both an MPE and an ms/image (issue 22 §5). Speed spans orders of magnitude
(a tiny model on a GPU vs a huge one on a CPU), so the x axis is logarithmic; lower-left is better. Figures the
submitter reported are drawn hollow, measured ones filled. No JavaScript; names are escaped.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from html import escape

from leaderboard.web.charts import _clip, _nice_max

WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 560, 300, 48, 24, 14, 44
LABELLED = 12  # name every point up to this many; beyond, the names are in each point's tooltip only


@dataclass(frozen=True)
class SpeedPoint:
    label: str
    mpe: float
    ms_per_image: float
    reported: bool


def speed_points(rows: Iterable[tuple[str, float, dict]]) -> list[SpeedPoint]:
    """Points of ``leaderboard.speed_rows``: (method name, MPE, figures) with a positive ms/image."""
    return [SpeedPoint(name, float(mpe), float(figures["ms_per_image"]), figures.get("source") == "reported")
            for name, mpe, figures in rows if figures.get("ms_per_image") and mpe is not None]


def _decades(low: float, high: float) -> tuple[int, int]:
    """The powers of ten around the data, at least one decade wide."""
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    return first, max(last, first + 1)


def _mpe_range(values: list[float]) -> tuple[float, float, float]:
    """(low, high, step) of the y axis: the data with a margin, on round ticks (at most 6 steps). Not from 0: the
    methods of one board differ by a few mm out of 50-100, which a zero-based axis squeezes into one line."""
    low, high = min(values), max(values)
    margin = max((high - low) * 0.15, 1.0)
    for step in (0.5, 1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000):
        bottom = max(0.0, math.floor((low - margin) / step) * step)
        top = math.ceil((high + margin) / step) * step
        if (top - bottom) / step <= 6:
            return bottom, top, step
    return 0.0, _nice_max(high), _nice_max(high) / 5


def _overlaps(box: tuple[float, float, float, float], taken: list[tuple[float, float, float, float]]) -> bool:
    x0, y0, x1, y1 = box
    return any(x0 < b[2] and b[0] < x1 and y0 < b[3] and b[1] < y1 for b in taken)


def _label_box(cx: float, cy: float, text: str, where: str) -> tuple[tuple[float, float, float, float], str, float, float]:
    """(box, anchor, x, y) of a label of ``text`` (10 px, ~5.6 px a character) beside a point."""
    w = 5.6 * len(text)
    x, y, anchor = {"right": (cx + 7, cy + 3.5, "start"), "left": (cx - 7, cy + 3.5, "end"),
                    "above": (cx, cy - 8, "middle"), "below": (cx, cy + 15, "middle")}[where]
    x0 = x if anchor == "start" else x - w if anchor == "end" else x - w / 2
    return (x0, y - 9, x0 + w, y + 2), anchor, x, y


def speed_chart_svg(points: list[SpeedPoint], title: str = "MPE against milliseconds per image") -> str:
    """The scatter ('' without points): log-x ms/image with a tick per decade, MPE on y (round ticks around the
    data). Up to ``LABELLED`` points are named beside them where the name overlaps no other name."""
    if not points:
        return ""
    first, last = _decades(min(p.ms_per_image for p in points), max(p.ms_per_image for p in points))
    ymin, ymax, ystep = _mpe_range([p.mpe for p in points])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(ms: float) -> float:
        return LEFT + plot_w * (math.log10(ms) - first) / (last - first)

    def y(mpe: float) -> float:
        return TOP + plot_h * (1 - (min(max(mpe, ymin), ymax) - ymin) / (ymax - ymin))

    out = [f'<svg class="chart speed" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(round((ymax - ymin) / ystep) + 1):
        value = ymin + ystep * i
        out.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" class="grid"/>'
                   f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" class="tick" text-anchor="end">{value:g}</text>')
    for power in range(first, last + 1):
        ms = 10.0 ** power
        out.append(f'<line x1="{x(ms):.1f}" x2="{x(ms):.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="grid"/>'
                   f'<text x="{x(ms):.1f}" y="{TOP + plot_h + 14}" class="tick" text-anchor="middle">{ms:g}</text>')
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 8}" class="axis" text-anchor="middle">'
               'ms per image (log scale) · hollow: reported by the submitter</text>')
    out.append(f'<text x="12" y="{TOP + plot_h / 2:.0f}" class="axis y-axis" transform="rotate(-90 12 {TOP + plot_h / 2:.0f})" '
               'text-anchor="middle">MPE (mm)</text>')
    centres = [(x(p.ms_per_image), y(p.mpe)) for p in points]
    taken = [(cx - 5, cy - 5, cx + 5, cy + 5) for cx, cy in centres]  # labels cover no point
    for point, (cx, cy) in zip(points, centres):
        kind = "reported" if point.reported else "measured"
        out.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4.5" class="point {kind}"><title>{escape(point.label)}: '
                   f'MPE {point.mpe:.1f} mm, {point.ms_per_image:.3g} ms/image ({kind})</title></circle>')
    for point, (cx, cy) in zip(points if len(points) <= LABELLED else (), centres):
        text = _clip(point.label, 24)
        for where in ("right", "left", "above", "below"):
            box, anchor, tx, ty = _label_box(cx, cy, text, where)
            if box[0] >= LEFT and box[2] <= WIDTH - RIGHT and box[1] >= TOP and box[3] <= TOP + plot_h \
                    and not _overlaps(box, taken):
                taken.append(box)
                out.append(f'<text x="{tx:.1f}" y="{ty:.1f}" class="point-label" text-anchor="{anchor}">'
                           f'{escape(text)}</text>')
                break
    out.append("</svg>")
    return "".join(out)
