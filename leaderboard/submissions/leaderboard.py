"""Ranking queries for the public leaderboards (web pages, JSON and CSV exports share them).

Order: lower is better; a missing value always sorts last whatever the direction; ties keep the earlier
submission first (then the lower id), so the order is deterministic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission
from leaderboard.submissions.visibility import is_staff, public_submission_q

SORT_DIRECTIONS = ("asc", "desc")


def leaderboard_submissions() -> QuerySet[Submission]:
    """What the public leaderboards list: finished published submissions and baselines.

    A 'reported' baseline carries numbers copied from a paper, so it is listed whatever its status.
    """
    return Submission.objects.filter(
        (Q(status=Status.FINISHED) & public_submission_q()) | Q(baseline_source=BaselineSource.REPORTED)
    ).select_related("owner", "team")


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def sort_key(value: float | None, created_at: datetime, pk: int, descending: bool = False) -> tuple:
    """Missing last in both directions; ties broken by earlier submission, then lower id."""
    value = _number(value)
    if value is None:
        return (1, 0.0, created_at, pk)
    return (0, -value if descending else value, created_at, pk)


@dataclass
class OverallRow:
    rank: int | None
    submission: Submission
    mpe: float | None
    hand_mpe: float | None
    pa_hand_mpe: float | None
    primary: dict[str, float | None] = field(default_factory=dict)  # benchmark slug -> primary value


@dataclass
class BenchmarkRow:
    rank: int | None
    submission: Submission
    metrics: dict[str, float | None]
    num_samples: int


def assign_ranks(rows: list, value_of) -> None:
    """Competition ranking (1, 2, 2, 4); rows without a value get no rank."""
    previous, rank = None, 0
    for position, row in enumerate(rows, start=1):
        value = _number(value_of(row))
        if value is None:
            row.rank = None
            continue
        if value != previous:
            rank, previous = position, value
        row.rank = rank


def display_split(benchmark: Benchmark, user=None, requested: str | None = None) -> Split | None:
    """The split a leaderboard shows: the requested one if the user may see it, else the ranking split."""
    splits = benchmark.splits.all()
    if not is_staff(user):
        splits = splits.filter(is_revealed=True)
    if requested:
        chosen = splits.filter(name=requested).first()
        if chosen is not None:
            return chosen
    return benchmark.ranking_split or (splits.filter(is_ranking=True).first() if is_staff(user) else None) or splits.first()


def overall_leaderboard(benchmarks: list[Benchmark] | None = None) -> list[OverallRow]:
    """All leaderboard submissions by MPE, with each benchmark's primary value on its (revealed) ranking split."""
    if benchmarks is None:
        benchmarks = list(Benchmark.objects.filter(is_active=True))
    ranking_split = {b.pk: b.ranking_split for b in benchmarks}
    submissions = list(leaderboard_submissions())
    results = BenchmarkResult.objects.filter(submission__in=submissions, benchmark__in=benchmarks)
    primary: dict[int, dict[str, float | None]] = {s.pk: {} for s in submissions}
    slugs = {b.pk: b.slug for b in benchmarks}
    for result in results.only("submission_id", "benchmark_id", "split", "primary_value"):
        split = ranking_split.get(result.benchmark_id)
        if split is not None and result.split == split.name:
            primary[result.submission_id][slugs[result.benchmark_id]] = _number(result.primary_value)
    rows = [
        OverallRow(None, s, _number(s.mpe), _number(s.hand_mpe), _number(s.pa_hand_mpe), primary[s.pk])
        for s in submissions
    ]
    rows.sort(key=lambda r: sort_key(r.mpe, r.submission.created_at, r.submission.pk))
    assign_ranks(rows, lambda r: r.mpe)
    return rows


def benchmark_leaderboard(
    benchmark: Benchmark, split: Split | None, sort: str | None = None, direction: str = "asc"
) -> tuple[list[BenchmarkRow], str, str]:
    """Rows of one benchmark split sorted by ``sort`` (a metric key; default the primary metric).

    Returns (rows, sort, direction) with the sort actually applied, so an unknown key falls back cleanly.
    Ranks always follow the primary metric, whatever column the table is sorted by.
    """
    from evaluator.metric_names import METRICS

    if sort not in METRICS:
        sort = benchmark.primary_metric
    if direction not in SORT_DIRECTIONS:
        direction = "asc"
    if split is None:
        return [], sort, direction
    results = BenchmarkResult.objects.filter(
        benchmark=benchmark, split=split.name, submission__in=leaderboard_submissions()
    ).select_related("submission", "submission__owner", "submission__team")
    rows = [
        BenchmarkRow(None, r.submission, {k: _number(r.metrics.get(k)) for k in METRICS}, r.num_samples)
        for r in results
    ]
    primary = benchmark.primary_metric
    rows.sort(key=lambda r: sort_key(r.metrics.get(primary), r.submission.created_at, r.submission.pk))
    assign_ranks(rows, lambda r: r.metrics.get(primary))
    if sort != primary or direction != "asc":
        rows.sort(key=lambda r: sort_key(r.metrics.get(sort), r.submission.created_at, r.submission.pk, direction == "desc"))
    return rows, sort, direction
