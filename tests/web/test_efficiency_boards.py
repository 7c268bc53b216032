"""Efficiency and provenance beside the errors (issue 22 §5): optional ms/image and params columns, a provenance
line on computed rows, the new export columns (one type each) and the accuracy-vs-speed plot on the overall page."""
from __future__ import annotations

import csv
import io
import json
import re

from django.test import Client

from leaderboard.submissions.models import BaselineSource, Efficiency, EfficiencySource
from leaderboard.web.speed_chart import SpeedPoint, speed_chart_svg
from tests.web.test_leaderboards import entry, streamed


def efficiency(submission, benchmark, source=EfficiencySource.MEASURED, **figures) -> Efficiency:
    return Efficiency.objects.create(submission=submission, benchmark=benchmark, source=source, **figures)


def rows_of(html: str) -> dict[str, str]:
    """Each table row's HTML by its method name."""
    return {m.group(1): m.group(0) for m in re.finditer(r'<tr id="s-[^"]+".*?class="method-name"[^>]*>([^<]+)<.*?</tr>',
                                                          html, re.S)}


def test_columns_appear_only_when_a_row_has_figures(alice, bob, board_bench):
    plain = entry(alice, board_bench, "Plain", 40.0)
    for path in ("/", f"/benchmarks/{board_bench.slug}/"):
        assert "ms/img" not in Client().get(path).content.decode(), path
    measured = entry(bob, board_bench, "Measured", 45.0, checkpoint_sha256="ab" * 32, code_commit="0123456789abcdef",
                     code_url="https://example.org/code", baseline_source=BaselineSource.COMPUTED)
    efficiency(measured, board_bench, ms_per_image=12.34, params=32_008_024, peak_memory_mb=900.0, device="cpu")
    efficiency(plain, board_bench, EfficiencySource.REPORTED, ms_per_image=3.5, params=1_500_000_000)
    measured.results.update(protocol="smplx-generic", protocol_version="2", evaluator_version="2.1.0")

    html = Client().get(f"/benchmarks/{board_bench.slug}/").content.decode()
    assert html.count(">ms/img<") == 1 and ">Params<" in html
    rows = rows_of(html)
    assert "12.3<" in rows["Measured"] and "32.0M" in rows["Measured"] and "reported-mark" not in rows["Measured"]
    assert 'title="cpu, peak memory 900 MB; measured"' in rows["Measured"]
    assert "3.50" in rows["Plain"] and "1.50B" in rows["Plain"] and rows["Plain"].count("reported-mark") == 2
    # provenance of the computed row: checkpoint, code URL and commit, protocol and evaluator versions
    assert "checkpoint sha256" in rows["Measured"] and "abababababab…" in rows["Measured"]
    assert "0123456789<" in rows["Measured"] and "https://example.org/code" in rows["Measured"]
    assert "smplx-generic v2 · evaluator 2.1.0" in rows["Measured"]
    assert "predictions sha256" not in rows["Plain"]  # no upload stored for it: nothing to show

    overall = Client().get("/").content.decode()
    assert overall.count(">ms/img<") == 1 and "12.3<" in rows_of(overall)["Measured"]


def test_benchmark_exports_carry_the_figures_one_type_per_column(alice, bob, board_bench):
    measured = entry(alice, board_bench, "Measured", 45.0, checkpoint_sha256="cd" * 32, code_commit="feedbee")
    efficiency(measured, board_bench, ms_per_image=12.5, params=32_008_024, peak_memory_mb=900.0, device="cpu")
    entry(bob, board_bench, "Nothing", 50.0)
    for path in ("/", f"/benchmarks/{board_bench.slug}/"):  # a row without figures beside one with: dashes
        html = Client().get(path).content.decode()
        assert "ms/img" in html and re.search(r'<td class="num eff-col">—</td>', rows_of(html)["Nothing"]), path

    text = streamed(Client().get(f"/benchmarks/{board_bench.slug}/?format=csv"))
    table = {r["method"]: r for r in csv.DictReader(io.StringIO(text))}
    assert table["Measured"]["ms_per_image"] == "12.5000" and table["Measured"]["params"] == "32008024"
    assert (table["Measured"]["device"], table["Measured"]["efficiency_source"]) == ("cpu", "measured")
    assert table["Measured"]["sha256"] == "cd" * 32 and table["Measured"]["sha256_of"] == "checkpoint"
    assert table["Measured"]["code_commit"] == "feedbee"
    for column in ("ms_per_image", "params", "peak_memory_mb", "device", "efficiency_source", "sha256", "code_commit"):
        assert table["Nothing"][column] == "", column  # empty, never a word standing in for a number

    payload = json.loads(streamed(Client().get(f"/benchmarks/{board_bench.slug}/?format=json")))
    got = {r["method_name"]: r for r in payload["rows"]}
    assert got["Measured"]["ms_per_image"] == 12.5 and got["Measured"]["params"] == 32_008_024
    assert got["Nothing"]["ms_per_image"] is None and got["Nothing"]["params"] is None


def test_overall_page_plots_mpe_against_speed(alice, bob, board_bench):
    fast = entry(alice, board_bench, "Fast", 60.0)
    slow = entry(bob, board_bench, "Slow", 40.0)
    efficiency(fast, board_bench, ms_per_image=2.0)
    efficiency(slow, board_bench, EfficiencySource.REPORTED, ms_per_image=300.0)
    html = Client().get("/").content.decode()
    assert "Accuracy against speed" in html
    svg = html[html.index('<svg class="chart speed"'):]
    svg = svg[:svg.index("</svg>")]
    points = {t: (float(x), float(y)) for x, y, t in
              re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="4.5" class="point \w+"><title>(\w+):', svg)}
    assert set(points) == {"Fast", "Slow"}
    assert points["Fast"][0] < points["Slow"][0]  # faster: further left
    assert points["Slow"][1] > points["Fast"][1]  # lower MPE: lower on the plot (SVG y grows downwards)
    assert 'class="point reported"><title>Slow' in svg and 'class="point measured"><title>Fast' in svg


def test_speed_chart_scales():
    svg = speed_chart_svg([SpeedPoint("a", 50.0, 1.0, False), SpeedPoint("b", 25.0, 100.0, True)])
    ticks = re.findall(r'class="tick" text-anchor="middle">([^<]+)<', svg)
    assert ticks == ["1", "10", "100"]  # one per decade, log scale
    (ax, ay), (bx, by) = [(float(x), float(y)) for x, y in re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)]
    assert bx - ax > 400 and ay < by  # b: two decades slower (right), half the error (lower on the plot)
    assert speed_chart_svg([]) == ""
    assert "&lt;b&gt;" in speed_chart_svg([SpeedPoint("<b>", 1.0, 1.0, False)])
