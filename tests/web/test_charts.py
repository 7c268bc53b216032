"""Result charts: a vertical chart for wide screens and a horizontal one drawn at phone width (readable text)."""
import re

from leaderboard.web.charts import COMPACT_W, compact_bar_chart_svg, result_chart_html

METRICS = {"mpvpe_all": 50.0, "pa_mpvpe_all": 30.0, "mpvpe_hand": 40.0, "pa_mpvpe_hand": 12.0, "mpvpe_l_hand": 41.0}


def test_result_chart_has_both_layouts():
    html = result_chart_html(METRICS, "Bench (test)")
    assert html.count("<svg") == 2 and 'class="chart chart-wide"' in html and 'class="chart chart-compact"' in html


def test_compact_chart_is_drawn_at_phone_width_with_every_aggregate_bar():
    svg = compact_bar_chart_svg(METRICS)
    assert f'width="{COMPACT_W}"' in svg and COMPACT_W <= 360  # drawn ~1:1 on a 390 px screen
    assert re.findall(r"<title>([^<]+)</title>", svg) == [
        "PVE (all): 50.00 mm", "PA-PVE (all): 30.00 mm", "PVE (hands): 40.00 mm", "PA-PVE (hands): 12.00 mm"]
    assert "Whole body" in svg and "Hands" in svg and "left hand" not in svg
    widths = [float(w) for w in re.findall(r'<rect x="\d+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths[0] > widths[1] > widths[3]  # proportional to the values


def test_compare_chart_has_a_phone_layout_with_one_bar_per_method_and_metric():
    from leaderboard.web.charts import compare_chart_html, compact_compare_chart_svg

    methods = [{"mpvpe_all": 50.0, "pa_mpvpe_all": 30.0}, {"mpvpe_all": 60.0, "pa_mpvpe_all": None}]
    html = compare_chart_html(["A", "B"], methods, "Bench")
    assert 'class="chart compare"' in html and 'class="chart chart-compact"' in html
    svg = compact_compare_chart_svg(["A", "B"], methods)
    assert f'width="{COMPACT_W}"' in svg
    assert re.findall(r"<title>([^<]+)</title>", svg) == [
        "A, PVE (all): 50.00 mm", "B, PVE (all): 60.00 mm", "A, PA-PVE (all): 30.00 mm"]


def test_compare_chart_bar_labels_do_not_overlap_and_long_legend_names_are_marked_as_cut():
    from leaderboard.web.charts import LABEL_SLOT, compare_chart_svg

    both = {"mpvpe_hand": 30.0, "pa_mpvpe_hand": 13.0, "pa_mpjpe_hand": 14.0}
    long_name = "SMPLer-X-H32* [3DPW camera fix (2024-03)]"
    svg = compare_chart_svg(["A", long_name], [both, both])
    centres = [float(x) for x in re.findall(r'<text x="([\d.]+)" y="[\d.]+" class="bar-label"', svg)]
    assert len(centres) == 3
    # "PA-MPJPE" at 8.5 px is about 42 units wide: neighbouring labels need at least that between centres
    assert min(b - a for a, b in zip(centres, centres[1:])) >= LABEL_SLOT >= 44
    bars = [float(x) for x in re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="11"', svg)]
    assert abs((bars[0] + bars[1] + 11) / 2 - centres[0]) < 1  # the pair of bars sits under its label
    legend = re.findall(r'class="legend">([^<]+)</text>', svg)
    assert legend[0] == "A" and legend[1].endswith("…") and long_name.startswith(legend[1][:-1])
