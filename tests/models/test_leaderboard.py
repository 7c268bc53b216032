from datetime import timedelta

import pytest
from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.leaderboard import benchmark_leaderboard, display_split, overall_leaderboard
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission
from leaderboard.submissions.visibility import visible_results


@pytest.fixture
def bench(db) -> Benchmark:
    b = Benchmark.objects.create(slug="lb", name="LB", gt_path="gt/lb/gt.npz", primary_metric="mpvpe_all")
    Split.objects.create(benchmark=b, name="test", is_ranking=True, is_revealed=True)
    Split.objects.create(benchmark=b, name="hidden", is_ranking=False, is_revealed=False)
    return b


_clock = timezone.now() - timedelta(days=1)


def entry(owner, bench, name, mpe=None, pve=None, pa=None, public=True, status=Status.FINISHED, minutes=0, split="test"):
    s = Submission.objects.create(owner=owner, method_name=name, status=status, is_public=public, mpe=mpe)
    Submission.objects.filter(pk=s.pk).update(created_at=_clock + timedelta(minutes=minutes))
    s.refresh_from_db()
    if pve is not None or pa is not None:
        BenchmarkResult.objects.create(submission=s, benchmark=bench, split=split, primary_value=pve,
                                       metrics={"mpvpe_all": pve, "pa_mpvpe_all": pa})
    return s


def names(rows):
    return [r.submission.method_name for r in rows]


def test_overall_sorted_by_mpe_missing_last_ties_by_earlier_submission(alice, bench):
    entry(alice, bench, "none-early", mpe=None, minutes=0)
    entry(alice, bench, "tie-late", mpe=50.0, minutes=5)
    entry(alice, bench, "best", mpe=40.0, minutes=9)
    entry(alice, bench, "tie-early", mpe=50.0, minutes=1)
    entry(alice, bench, "private", mpe=1.0, public=False)
    entry(alice, bench, "running", mpe=2.0, status=Status.RUNNING)
    rows = overall_leaderboard([bench])
    assert names(rows) == ["best", "tie-early", "tie-late", "none-early"]
    assert [r.rank for r in rows] == [1, 2, 2, None]


def test_baselines_are_listed_without_publishing(alice, bench):
    s = entry(alice, bench, "reported", mpe=60.0, public=False, status=Status.SUBMITTED)
    Submission.objects.filter(pk=s.pk).update(baseline_source=BaselineSource.REPORTED)
    assert names(overall_leaderboard([bench])) == ["reported"]


def test_benchmark_sort_by_column_both_directions_missing_last(alice, bench):
    entry(alice, bench, "a", pve=10.0, pa=5.0, minutes=0)
    entry(alice, bench, "b", pve=20.0, pa=None, minutes=1)
    entry(alice, bench, "c", pve=None, pa=3.0, minutes=2)
    entry(alice, bench, "d", pve=10.0, pa=9.0, minutes=3)
    split = bench.splits.get(name="test")
    rows, sort, direction = benchmark_leaderboard(bench, split)
    assert (sort, direction) == ("mpvpe_all", "asc")
    assert names(rows) == ["a", "d", "b", "c"] and [r.rank for r in rows] == [1, 1, 3, None]
    rows, *_ = benchmark_leaderboard(bench, split, "pa_mpvpe_all", "desc")
    assert names(rows) == ["d", "a", "c", "b"]
    assert {r.submission.method_name: r.rank for r in rows}["d"] == 1  # ranks follow the primary metric
    rows, sort, direction = benchmark_leaderboard(bench, split, "not-a-metric'; drop", "sideways")
    assert (sort, direction) == ("mpvpe_all", "asc")


def test_hidden_split_results_only_for_staff(alice, bob, bench):
    s = entry(alice, bench, "x", pve=10.0, split="hidden")
    assert display_split(bench, alice, "hidden").name == "test"
    assert not visible_results(alice, s.results.all()).exists()  # not even the owner
    bob.is_staff = True
    assert display_split(bench, bob, "hidden").name == "hidden"
    assert visible_results(bob, s.results.all()).count() == 1
