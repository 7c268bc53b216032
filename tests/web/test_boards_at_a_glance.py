"""Boards read at a glance (issue 22 §3): reported rows on one line, an empty score says why."""
from __future__ import annotations

import re

import pytest
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission
from leaderboard.submissions.scores import recompute_scores

pytestmark = pytest.mark.django_db
CITATION = "A long citation: Authors et al., Some Very Long Paper Title, Venue 2099 (github.com/x/y, commit abc)"


def hand_benchmark(slug: str, name: str, order: int) -> Benchmark:
    benchmark = Benchmark.objects.create(slug=slug, name=name, gt_path=f"gt/{slug}/gt.npz", display_order=order,
                                         counts_toward_hand_mpe=True, gt_parts=["body", "hands", "face"])
    Split.objects.create(benchmark=benchmark, name="test", is_ranking=True, is_revealed=True, num_samples=4)
    return benchmark


def scored(owner, name: str, values: dict[Benchmark, dict]) -> Submission:
    submission = Submission.objects.create(owner=owner, method_name=name, status=Status.FINISHED, is_public=True)
    for benchmark, metrics in values.items():
        BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split="test", num_samples=4,
                                       primary_value=metrics["mpvpe_all"], metrics=metrics, protocol="smplx-generic",
                                       protocol_version="2")
    recompute_scores(submission)
    return submission


def cell(html: str, row_text: str, column: int) -> str:
    """The ``column``-th cell (0-based, after rank and method) of the row holding ``row_text``."""
    row = next(r for r in re.findall(r"<tr id=.*?</tr>", html, re.S) if row_text in r)
    return re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)[2 + column]


def test_an_empty_hand_mpe_names_the_benchmark_without_a_value(alice):
    full, other = hand_benchmark("hb-a", "Hands A", 1), hand_benchmark("hb-b", "Hands B", 2)
    both = {"mpvpe_all": 50.0, "mpvpe_hand": 20.0, "pa_mpvpe_hand": 10.0}
    scored(alice, "Complete", {full: both, other: both})
    scored(alice, "NoHandsOnB", {full: both, other: {"mpvpe_all": 60.0}})
    scored(alice, "OnlyA", {full: both})
    html = Client().get("/?all=1").content.decode()
    assert cell(html, ">Complete<", 1) == "20.0"  # MPE, Hand MPE, ...: column 1 is hand MPE
    assert re.search(r'title="No Hand MPE: Hands B has no PVE \(hands\) for it"', cell(html, ">NoHandsOnB<", 1))
    assert re.search(r'title="No Hand MPE: no result on Hands B"', cell(html, ">OnlyA<", 1))
    assert 'title="No MPE: no result on Hands B"' in cell(html, ">OnlyA<", 0)


def test_a_reported_row_takes_one_line_with_its_citation_behind_a_tooltip(alice):
    benchmark = hand_benchmark("hb-r", "Hands R", 1)
    paper = Submission.objects.create(owner=alice, method_name="Paper-Net", status=Status.FINISHED, mpe=70.0,
                                      baseline_source=BaselineSource.REPORTED, citation=CITATION,
                                      paper_url="https://example.org/p")
    BenchmarkResult.objects.create(submission=paper, benchmark=benchmark, split="test", num_samples=4, primary_value=70.0,
                                   metrics={"mpvpe_all": 70.0}, protocol="as published", protocol_version="paper")
    for path in ("/", f"/benchmarks/{benchmark.slug}/"):
        html = Client().get(path).content.decode()
        row = next(r for r in re.findall(r"<tr id=.*?</tr>", html, re.S) if ">Paper-Net<" in r)
        method = re.findall(r'<td class="method-col">(.*?)</td>', row, re.S)[0]
        assert 'class="method one-line"' in method and "method-meta" not in method, path
        visible = re.sub(r"<[^>]*>", "", method)
        assert "Authors et al." not in visible, path  # only in the title attributes
        assert f'title="Reported in: {CITATION}"' in method, path
