"""Server-rendered inline SVG bar chart of one benchmark result: parts grouped, PA and non-PA side by side.

No JavaScript, no external assets: the SVG is built from plain numbers and escaped text.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

PART_TITLES = {"all": "Whole body", "body": "Body joints", "hands": "Hands", "face": "Face"}
BAR_W, GAP, GROUP_GAP, HEIGHT, TOP, BOTTOM, LEFT = 34, 6, 28, 250, 18, 72, 44
SCALE = 1.3  # drawn size vs. the viewBox: text stays readable, the box still shrinks on narrow screens
LABEL_SLOT = 48  # viewBox units per compared metric: the widest bar label ("PA-MPJPE", 8.5 px text) plus a gap


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    value: float
    procrustes: bool


def chart_groups(metrics: dict[str, float | None]) -> list[tuple[str, list[Bar]]]:
    """Aggregate metrics only (per-hand values stay in the table), grouped by part, non-PA first."""
    from evaluator.metric_names import METRIC_LABELS

    groups: dict[str, list[Bar]] = {}
    for key, meta in METRIC_LABELS.items():
        value = metrics.get(key)
        if value is None or "_l_" in key or "_r_" in key:
            continue
        groups.setdefault(meta.part, []).append(Bar(key, meta.label, float(value), meta.procrustes))
    for bars in groups.values():  # vertex errors before joint errors, each non-PA then PA
        bars.sort(key=lambda b: ("mpjpe" in b.key, b.procrustes))
    order = list(PART_TITLES)
    parts = sorted(groups, key=lambda p: order.index(p) if p in order else len(order))
    return [(PART_TITLES.get(part, part), groups[part]) for part in parts]


def short_label(label: str) -> str:
    """'PA-PVE (hands)' -> 'PA-PVE': the group title already names the part."""
    return label.split(" (")[0]


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000):
        top = step * -(-value // step)
        if top / step <= 6:
            return float(top)
    return float(value)


def bar_chart_svg(metrics: dict[str, float | None], title: str = "", css_class: str = "chart") -> str:
    groups = chart_groups(metrics)
    if not groups:
        return ""
    vmax = _nice_max(max(b.value for _, bars in groups for b in bars))
    width = LEFT + sum(len(bars) * (BAR_W + GAP) for _, bars in groups) + GROUP_GAP * len(groups) + 10
    plot_h = HEIGHT - TOP - BOTTOM
    out = [
        f'<svg class="{css_class}" viewBox="0 0 {width} {HEIGHT}" width="{width * SCALE:.0f}" height="{HEIGHT * SCALE:.0f}" role="img" '
        f'aria-label="{escape(title or "Errors per body part")}" xmlns="http://www.w3.org/2000/svg">'
    ]
    for i in range(6):  # horizontal grid with mm ticks
        value = vmax * i / 5
        y = TOP + plot_h * (1 - i / 5)
        out.append(f'<line x1="{LEFT}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{value:g}</text>')
    out.append(f'<text x="10" y="{TOP + plot_h / 2:.0f}" class="axis" transform="rotate(-90 10 {TOP + plot_h / 2:.0f})" text-anchor="middle">mm</text>')
    x = LEFT + GROUP_GAP / 2
    for part_title, bars in groups:
        start = x
        for bar in bars:
            h = plot_h * min(bar.value, vmax) / vmax
            y = TOP + plot_h - h
            cls = "bar pa" if bar.procrustes else "bar"
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{BAR_W}" height="{h:.1f}" class="{cls}">'
                f"<title>{escape(bar.label)}: {bar.value:.2f} mm</title></rect>"
            )
            out.append(f'<text x="{x + BAR_W / 2:.1f}" y="{y - 3:.1f}" class="value" text-anchor="middle">{bar.value:.0f}</text>')
            out.append(
                f'<text x="{x + BAR_W / 2:.1f}" y="{HEIGHT - BOTTOM + 13}" class="bar-label" text-anchor="middle">'
                f"{escape(short_label(bar.label))}</text>"
            )
            x += BAR_W + GAP
        centre = (start + x - GAP) / 2
        out.append(f'<text x="{centre:.1f}" y="{HEIGHT - BOTTOM + 31}" class="group" text-anchor="middle">{escape(part_title)}</text>')
        x += GROUP_GAP
    legend_y = HEIGHT - 14
    out.append(f'<rect x="{LEFT}" y="{legend_y - 9}" width="10" height="10" class="bar"/>')
    out.append(f'<text x="{LEFT + 14}" y="{legend_y}" class="legend">without Procrustes (PVE / MPJPE)</text>')
    out.append(f'<rect x="{LEFT + 200}" y="{legend_y - 9}" width="10" height="10" class="bar pa"/>')
    out.append(f'<text x="{LEFT + 214}" y="{legend_y}" class="legend">Procrustes-aligned (PA-)</text>')
    out.append("</svg>")
    return "".join(out)


# Horizontal bars for narrow screens: the vertical chart shrinks to half size on a phone (≈5 px text); this one
# is drawn about as wide as a phone, so its text stays near its nominal size.
ROW_H, GROUP_H, LABEL_W, VALUE_W, COMPACT_W = 22, 22, 92, 44, 340


def compact_bar_chart_svg(metrics: dict[str, float | None], title: str = "") -> str:
    groups = chart_groups(metrics)
    if not groups:
        return ""
    vmax = _nice_max(max(b.value for _, bars in groups for b in bars))
    bar_space = COMPACT_W - LABEL_W - VALUE_W
    height = sum(GROUP_H + ROW_H * len(bars) for _, bars in groups) + 8
    out = [
        f'<svg class="chart chart-compact" viewBox="0 0 {COMPACT_W} {height}" width="{COMPACT_W}" height="{height}" '
        f'role="img" aria-label="{escape(title or "Errors per body part")}" xmlns="http://www.w3.org/2000/svg">'
    ]
    y = 0
    for part_title, bars in groups:
        out.append(f'<text x="0" y="{y + 15}" class="group">{escape(part_title)}</text>')
        y += GROUP_H
        for bar in bars:
            w = max(1.0, bar_space * min(bar.value, vmax) / vmax)
            cls = "bar pa" if bar.procrustes else "bar"
            out.append(f'<text x="{LABEL_W - 8}" y="{y + 15}" class="label" text-anchor="end">{escape(short_label(bar.label))}</text>')
            out.append(f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" class="{cls}">'
                       f"<title>{escape(bar.label)}: {bar.value:.2f} mm</title></rect>")
            out.append(f'<text x="{LABEL_W + w + 6:.1f}" y="{y + 15}" class="value">{bar.value:.1f}</text>')
            y += ROW_H
    out.append("</svg>")
    return "".join(out)


def result_chart_html(metrics: dict[str, float | None], title: str = "") -> str:
    """Both charts; CSS shows the vertical one on wide screens and the horizontal one on phones."""
    return bar_chart_svg(metrics, title, css_class="chart chart-wide") + compact_bar_chart_svg(metrics, title)


SERIES_CLASSES = ("s0", "s1", "s2", "s3")  # colours of up to four compared methods (site.css)


def _clip(label: str, limit: int) -> str:
    """A legend label cut to ``limit`` characters, with an ellipsis when cut (the full name is in each bar's title)."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


def _compared_keys(metrics: list[dict[str, float | None]]) -> tuple[dict[str, list[str]], list[str]]:
    """Aggregate metric keys any compared method has, per part, and the parts in display order."""
    from evaluator.metric_names import METRIC_LABELS

    keys: dict[str, list[str]] = {}
    for key, meta in METRIC_LABELS.items():
        if "_l_" in key or "_r_" in key or all(m.get(key) is None for m in metrics):
            continue
        keys.setdefault(meta.part, []).append(key)
    order = list(PART_TITLES)
    return keys, sorted(keys, key=lambda p: order.index(p) if p in order else len(order))


def compare_chart_svg(labels: list[str], metrics: list[dict[str, float | None]], title: str = "",
                      css_class: str = "chart compare") -> str:
    """Grouped bars: for each aggregate metric (parts grouped as in ``bar_chart_svg``), one bar per method."""
    from evaluator.metric_names import METRIC_LABELS

    keys, parts = _compared_keys(metrics)
    if not keys:
        return ""
    values = [float(m[k]) for m in metrics for ks in keys.values() for k in ks if m.get(k) is not None]
    vmax = _nice_max(max(values))
    bar, inner, n = 12, 10, len(metrics)
    group_w = max(n * bar + inner, LABEL_SLOT)  # two methods' bars alone are narrower than "PA-MPJPE"
    pad = (group_w - inner - n * bar) / 2  # centres the bars under their label
    width = LEFT + sum(len(keys[p]) * group_w for p in parts) + GROUP_GAP * len(parts) + 10
    height = HEIGHT + 16 * ((n + 1) // 2)
    plot_h = HEIGHT - TOP - BOTTOM
    out = [f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="{width * SCALE:.0f}" '
           f'height="{height * SCALE:.0f}" role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    for i in range(6):
        y = TOP + plot_h * (1 - i / 5)
        out.append(f'<line x1="{LEFT}" x2="{width - 6}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{vmax * i / 5:g}</text>')
    x = LEFT + GROUP_GAP / 2
    for part in parts:
        start = x
        for key in keys[part]:
            for s, m in enumerate(metrics):
                value = m.get(key)
                if value is not None:
                    h = plot_h * min(float(value), vmax) / vmax
                    out.append(f'<rect x="{x + pad + s * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 1}" height="{h:.1f}" '
                               f'class="bar {SERIES_CLASSES[s]}"><title>{escape(labels[s])}, '
                               f'{escape(METRIC_LABELS[key].label)}: {float(value):.2f} mm</title></rect>')
            out.append(f'<text x="{x + pad + n * bar / 2:.1f}" y="{HEIGHT - BOTTOM + 13}" class="bar-label" text-anchor="middle">'
                       f'{escape(short_label(METRIC_LABELS[key].label))}</text>')
            x += group_w
        out.append(f'<text x="{(start + x - inner) / 2:.1f}" y="{HEIGHT - BOTTOM + 31}" class="group" '
                   f'text-anchor="middle">{escape(PART_TITLES.get(part, part))}</text>')
        x += GROUP_GAP
    for s, label in enumerate(labels):  # legend, two per line
        lx, ly = LEFT + (s % 2) * 220, HEIGHT - 14 + 16 * (s // 2)
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" class="bar {SERIES_CLASSES[s]}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}" class="legend">{escape(_clip(label, 32))}</text>')
    out.append("</svg>")
    return "".join(out)


def compact_compare_chart_svg(labels: list[str], metrics: list[dict[str, float | None]], title: str = "") -> str:
    """The compare chart for phones: per metric one horizontal bar per method, drawn at phone width."""
    from evaluator.metric_names import METRIC_LABELS

    keys, parts = _compared_keys(metrics)
    if not keys:
        return ""
    vmax = _nice_max(max(float(m[k]) for m in metrics for ks in keys.values() for k in ks if m.get(k) is not None))
    bar_h, bar_space = 12, COMPACT_W - LABEL_W - VALUE_W
    out, y = [], 0
    for s, label in enumerate(labels):  # legend first: which colour is which method
        out.append(f'<rect x="0" y="{y + 4}" width="10" height="10" class="bar {SERIES_CLASSES[s]}"/>'
                   f'<text x="16" y="{y + 13}" class="label">{escape(_clip(label, 40))}</text>')
        y += 18
    for part in parts:
        y += 6
        out.append(f'<text x="0" y="{y + 15}" class="group">{escape(PART_TITLES.get(part, part))}</text>')
        y += GROUP_H
        for key in keys[part]:
            out.append(f'<text x="{LABEL_W - 8}" y="{y + 10 + (len(metrics) - 1) * bar_h / 2:.0f}" class="label" '
                       f'text-anchor="end">{escape(short_label(METRIC_LABELS[key].label))}</text>')
            for s, m in enumerate(metrics):
                value = m.get(key)
                if value is not None:
                    w = max(1.0, bar_space * min(float(value), vmax) / vmax)
                    out.append(f'<rect x="{LABEL_W}" y="{y + 1}" width="{w:.1f}" height="{bar_h - 2}" class="bar {SERIES_CLASSES[s]}">'
                               f'<title>{escape(labels[s])}, {escape(METRIC_LABELS[key].label)}: {float(value):.2f} mm</title></rect>'
                               f'<text x="{LABEL_W + w + 5:.1f}" y="{y + 10}" class="value">{float(value):.1f}</text>')
                y += bar_h
            y += 8
    head = (f'<svg class="chart chart-compact" viewBox="0 0 {COMPACT_W} {y + 4}" width="{COMPACT_W}" height="{y + 4}" '
            f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">')
    return head + "".join(out) + "</svg>"


def compare_chart_html(labels: list[str], metrics: list[dict[str, float | None]], title: str = "") -> str:
    """Both compare charts; CSS shows the grouped one on wide screens and the horizontal one on phones."""
    return compare_chart_svg(labels, metrics, title) + compact_compare_chart_svg(labels, metrics, title)
