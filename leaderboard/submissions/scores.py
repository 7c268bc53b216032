"""Turn shard sums into BenchmarkResult rows and a submission's MPE / hand MPE / PA hand MPE.

The reduction adds per-metric float64 sums and counts (``evaluator.metrics.MetricSums``), so the
means do not depend on how a benchmark was sharded. Scores follow docs/metrics.md:

- MPE: mean over every active ``counts_toward_mpe`` benchmark of its primary metric on its ranking
  split (the revealed split flagged ``is_ranking``); only defined when the submission has a result there for each
  of them, so a benchmark whose ranking split is still hidden leaves MPE empty until it is revealed.
- hand MPE / PA hand MPE: the same over ``counts_toward_hand_mpe`` benchmarks with ``mpvpe_hand`` /
  ``pa_mpvpe_hand``.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from evaluator.metric_sums import MetricSums
from evaluator.mpe import hand_mean_primary_error, mean_primary_error
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, ShardResult, Submission

HAND_METRIC = "mpvpe_hand"
PA_HAND_METRIC = "pa_mpvpe_hand"


@dataclass(frozen=True)
class SubmissionScores:
    mpe: float | None
    hand_mpe: float | None
    pa_hand_mpe: float | None


def reduce_shards(shards: Iterable[ShardResult]) -> dict[int, dict[str, MetricSums]]:
    """Sum shard rows into ``{benchmark_id: {split: MetricSums}}``, in shard order (deterministic)."""
    totals: dict[int, dict[str, MetricSums]] = {}
    for shard in sorted(shards, key=lambda s: (s.benchmark_id, s.shard_index)):
        per_split = totals.setdefault(shard.benchmark_id, {})
        for split, data in shard.sums.items():
            sums = MetricSums.from_dict(data)
            per_split[split] = per_split[split].merge(sums) if split in per_split else sums
    return totals


def _ranking_split_name(benchmark: Benchmark) -> str | None:
    """The benchmark's revealed ranking split, or None: no score is ever derived from an unrevealed split.

    There is deliberately no fallback (not even to the only split a submission was scored on): with one
    hidden benchmark among N, N·MPE minus the visible values would give its hidden value away.
    """
    split = benchmark.ranking_split
    return split.name if split is not None else None


def _metric_on_ranking_split(benchmark: Benchmark, results: dict[str, BenchmarkResult], metric: str) -> float | None:
    name = _ranking_split_name(benchmark)
    result = results.get(name) if name else None
    return result.metrics.get(metric) if result else None


def compute_scores(submission: Submission) -> SubmissionScores:
    """The submission's aggregate scores from its stored BenchmarkResult rows."""
    by_benchmark: dict[int, dict[str, BenchmarkResult]] = {}
    for result in submission.results.all():
        by_benchmark.setdefault(result.benchmark_id, {})[result.split] = result

    def values(benchmarks: Iterable[Benchmark], metric: str | None) -> dict[str, float | None]:
        return {
            b.slug: _metric_on_ranking_split(b, by_benchmark.get(b.id, {}), metric or b.primary_metric)
            for b in benchmarks
        }

    active = list(Benchmark.objects.filter(is_active=True))
    hand_benchmarks = [b for b in active if b.counts_toward_hand_mpe]
    return SubmissionScores(
        mpe=mean_primary_error(values([b for b in active if b.counts_toward_mpe], None)),
        hand_mpe=hand_mean_primary_error(values(hand_benchmarks, HAND_METRIC)),
        pa_hand_mpe=hand_mean_primary_error(values(hand_benchmarks, PA_HAND_METRIC)),
    )


def write_results(submission: Submission, totals: dict[int, dict[str, MetricSums]]) -> SubmissionScores:
    """Store one BenchmarkResult per (benchmark, split) and return the aggregate scores (idempotent)."""
    now = timezone.now()
    benchmarks = Benchmark.objects.in_bulk(list(totals))
    with transaction.atomic():
        for benchmark_id, per_split in totals.items():
            benchmark = benchmarks[benchmark_id]
            for split, sums in per_split.items():
                metrics = sums.means()
                BenchmarkResult.objects.update_or_create(
                    submission=submission,
                    benchmark=benchmark,
                    split=split,
                    defaults={
                        "metrics": metrics,
                        "primary_value": metrics.get(benchmark.primary_metric),
                        "num_samples": sums.num_samples,
                        "computed_at": now,
                    },
                )
        return compute_scores(submission)


def recompute_scores(submission: Submission) -> SubmissionScores:
    """Re-derive and save MPE / hand MPE after benchmark flags changed (results themselves are kept).

    A 'reported' baseline keeps its published scores: its figures are copied, never derived here.
    """
    if submission.baseline_source == BaselineSource.REPORTED:
        return SubmissionScores(submission.mpe, submission.hand_mpe, submission.pa_hand_mpe)
    scores = compute_scores(submission)
    Submission.objects.filter(pk=submission.pk).update(
        mpe=scores.mpe, hand_mpe=scores.hand_mpe, pa_hand_mpe=scores.pa_hand_mpe
    )
    return scores
