"""Turn shard sums into BenchmarkResult rows, and results into a submission's MPE / hand MPE / PA hand MPE.

The reduction adds per-metric float64 sums and counts (``evaluator.metrics.MetricSums``), so the
means do not depend on how a benchmark was sharded. Scores follow docs/metrics.md:

- MPE: mean over every active ``counts_toward_mpe`` benchmark of its primary metric on its ranking
  split (the revealed split flagged ``is_ranking``); only defined when the submission has a result there for each
  of them, so a benchmark whose ranking split is still hidden leaves MPE empty until it is revealed.
- hand MPE / PA hand MPE: the same over active ``counts_toward_hand_mpe`` benchmarks whose GT has hands, with
  ``mpvpe_hand`` / ``pa_mpvpe_hand``.

Every score records its *coverage*: the (benchmark, split, protocol, protocol version) of each result it
averages. Two scores are comparable only when their coverage is the same (``Coverage.key``), so the leaderboard
ranks rows by coverage group (``coverage_groups``) and names what MPE covers now (``current_coverage``).

Scores are stored on the Submission and refreshed whenever what they are defined by changes (benchmark flags,
protocol, parts, splits' reveal/ranking state): ``schedule_score_refresh`` is called by the model signals in
``leaderboard.submissions.score_triggers`` and by the split actions, and runs ``recompute_all_scores`` once per commit.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import django.dispatch
from django.db import transaction
from django.utils import timezone

from evaluator.metric_sums import MetricSums
from evaluator.mpe import hand_mean_primary_error, mean_primary_error
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, ShardResult, Status, Submission

log = logging.getLogger(__name__)

HAND_METRIC = "mpvpe_hand"
PA_HAND_METRIC = "pa_mpvpe_hand"
SCORE_NAMES = ("mpe", "hand_mpe", "pa_hand_mpe")
# The protocol of a figure copied from a paper; its coverage entries carry the source as protocol_version.
REPORTED_PROTOCOL = "as published"

# Sent after stored scores changed (``submission_ids``: the rows whose scores or coverage changed), so cached
# rankings can be invalidated. Not sent for a finalize (the submission's own status change says it).
scores_changed = django.dispatch.Signal()


# --------------------------------------------------------------------------------------------- coverage

@dataclass(frozen=True, order=True)
class CoverageEntry:
    """One result a score averages: benchmark slug, split, and the protocol (name, version) it was computed with."""

    benchmark: str
    split: str
    protocol: str
    protocol_version: str
    options: str = ""  # the protocol's resolved options as canonical JSON ("" when it has none)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> "CoverageEntry":
        return cls(*(str(data.get(name) or "") for name in ("benchmark", "split", "protocol", "protocol_version", "options")))

    @classmethod
    def of_result(cls, benchmark: str, result: BenchmarkResult) -> "CoverageEntry":
        options = json.dumps(result.protocol_options, sort_keys=True) if result.protocol_options else ""
        return cls(benchmark, result.split, result.protocol, result.protocol_version, options)


@dataclass(frozen=True)
class Coverage:
    """What one score covers; ``key`` is equal for two scores exactly when they are comparable."""

    entries: tuple[CoverageEntry, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[CoverageEntry]) -> "Coverage":
        return cls(tuple(sorted(entries)))

    @classmethod
    def from_json(cls, data: object) -> "Coverage":
        return cls.of(CoverageEntry.from_dict(e) for e in data) if isinstance(data, list) else cls()

    def to_json(self) -> list[dict[str, str]]:
        return [asdict(e) for e in self.entries]

    @property
    def key(self) -> str:
        """sha256 of the canonical JSON; "" for an empty coverage (no score)."""
        if not self.entries:
            return ""
        return hashlib.sha256(json.dumps(self.to_json(), sort_keys=True).encode()).hexdigest()

    @property
    def benchmarks(self) -> tuple[str, ...]:
        return tuple(e.benchmark for e in self.entries)

    @property
    def label(self) -> str:
        """e.g. 'agora/test, ehf/test (smplx-generic v1); 3dpw/test (3dpw v1)': entries grouped by protocol."""
        by_protocol: dict[tuple[str, str, str], list[str]] = {}
        for e in self.entries:
            by_protocol.setdefault((e.protocol, e.protocol_version, e.options), []).append(f"{e.benchmark}/{e.split}")
        return "; ".join(f"{', '.join(names)} ({_protocol_label(*key)})" for key, names in by_protocol.items())


def _non_default_options(protocol: str, options: str) -> str:
    """'variant=smplest-x' for the options that differ from the protocol's defaults ('' if none or unknown)."""
    from evaluator.protocols import get_protocol

    if not options:
        return ""
    try:
        defaults = get_protocol(protocol).options
    except ValueError:
        defaults = {}
    return ", ".join(f"{k}={v}" for k, v in sorted(json.loads(options).items()) if defaults.get(k, object()) != v)


def _protocol_label(protocol: str, version: str, options: str = "") -> str:
    if protocol == REPORTED_PROTOCOL:
        return f"as published in {version}" if version else protocol
    label = f"{protocol or 'protocol not recorded'}{' v' + version if version else ''}"
    changed = _non_default_options(protocol, options)
    return f"{label} [{changed}]" if changed else label


def submission_coverage(submission: Submission, score: str = "mpe") -> Coverage:
    """The stored coverage of one of the submission's scores (empty when the score is empty)."""
    return Coverage.from_json((submission.score_coverage or {}).get(score))


# --------------------------------------------------------------------------------------------- definitions

@dataclass(frozen=True)
class ScoredBenchmark:
    """One benchmark a score averages now: where its value is read (split None = not revealed yet)."""

    benchmark: Benchmark
    split: str | None
    metric: str


@dataclass(frozen=True)
class ScoreDefinitions:
    """For each score, the benchmarks it averages now. Built once per computation (a few queries)."""

    scores: dict[str, tuple[ScoredBenchmark, ...]] = field(default_factory=dict)

    @property
    def benchmark_ids(self) -> set[int]:
        return {s.benchmark.pk for members in self.scores.values() for s in members}


def _ranking_split_name(benchmark: Benchmark) -> str | None:
    """The benchmark's revealed ranking split, or None: no score is ever derived from an unrevealed split.

    There is deliberately no fallback (not even to the only split a submission was scored on): with one
    hidden benchmark among N, N·MPE minus the visible values would give its hidden value away.
    """
    for split in benchmark.splits.all():  # prefetched
        if split.is_ranking and split.is_revealed:
            return split.name
    return None


def score_definitions() -> ScoreDefinitions:
    active = list(Benchmark.objects.filter(is_active=True).prefetch_related("splits"))
    split = {b.pk: _ranking_split_name(b) for b in active}

    def members(benchmarks: Iterable[Benchmark], metric: str | None) -> tuple[ScoredBenchmark, ...]:
        return tuple(ScoredBenchmark(b, split[b.pk], metric or b.primary_metric) for b in benchmarks)

    hand = [b for b in active if b.counts_toward_hand_mpe and b.has_hand_gt]
    return ScoreDefinitions({
        "mpe": members([b for b in active if b.counts_toward_mpe], None),
        "hand_mpe": members(hand, HAND_METRIC),
        "pa_hand_mpe": members(hand, PA_HAND_METRIC),
    })


@dataclass(frozen=True)
class SubmissionScores:
    mpe: float | None
    hand_mpe: float | None
    pa_hand_mpe: float | None
    coverage: dict[str, Coverage] = field(default_factory=dict, compare=False)

    def coverage_json(self) -> dict[str, list]:
        return {name: c.to_json() for name, c in self.coverage.items() if c.entries}

    @property
    def mpe_coverage_key(self) -> str:
        return self.coverage.get("mpe", Coverage()).key

    def stored_fields(self) -> dict[str, object]:
        """The Submission fields these scores are stored in."""
        return {"mpe": self.mpe, "hand_mpe": self.hand_mpe, "pa_hand_mpe": self.pa_hand_mpe,
                "score_coverage": self.coverage_json(), "mpe_coverage_key": self.mpe_coverage_key}


_MEANS = {"mpe": mean_primary_error, "hand_mpe": hand_mean_primary_error, "pa_hand_mpe": hand_mean_primary_error}


def _scores_from(results: Mapping[tuple[int, str], BenchmarkResult], definitions: ScoreDefinitions) -> SubmissionScores:
    """Scores from one submission's results, keyed by (benchmark id, split)."""
    values: dict[str, float | None] = {}
    coverage: dict[str, Coverage] = {}
    for name in SCORE_NAMES:
        members = definitions.scores.get(name, ())
        per_benchmark: dict[str, float | None] = {}
        entries = []
        for member in members:
            result = results.get((member.benchmark.pk, member.split)) if member.split else None
            value = result.metrics.get(member.metric) if result is not None else None
            per_benchmark[member.benchmark.slug] = value
            if result is not None:
                entries.append(CoverageEntry.of_result(member.benchmark.slug, result))
        values[name] = _MEANS[name](per_benchmark)
        coverage[name] = Coverage.of(entries) if values[name] is not None else Coverage()
    return SubmissionScores(values["mpe"], values["hand_mpe"], values["pa_hand_mpe"], coverage)


def compute_scores(submission: Submission, definitions: ScoreDefinitions | None = None) -> SubmissionScores:
    """The submission's aggregate scores from its stored BenchmarkResult rows."""
    results = {(r.benchmark_id, r.split): r for r in submission.results.all()}
    return _scores_from(results, definitions or score_definitions())


# --------------------------------------------------------------------------------------------- shards -> results

class InconsistentShards(ValueError):
    """Shards of one benchmark were computed under different protocols or versions (a worker was upgraded mid-run)."""


def reduce_shards(shards: Iterable[ShardResult]) -> dict[int, dict[str, MetricSums]]:
    """Sum shard rows into ``{benchmark_id: {split: MetricSums}}``, in shard order (deterministic)."""
    totals: dict[int, dict[str, MetricSums]] = {}
    for shard in sorted(shards, key=lambda s: (s.benchmark_id, s.shard_index)):
        per_split = totals.setdefault(shard.benchmark_id, {})
        for split, data in shard.sums.items():
            sums = MetricSums.from_dict(data)
            per_split[split] = per_split[split].merge(sums) if split in per_split else sums
    return totals


def shard_stamps(shards: Iterable[ShardResult]) -> dict[int, dict[str, str]]:
    """``{benchmark_id: {"protocol", "protocol_version", "protocol_options", "evaluator_version"}}``; InconsistentShards
    if shards of a benchmark disagree."""
    stamps: dict[int, dict[str, str]] = {}
    for shard in shards:
        stamp = {"protocol": shard.protocol, "protocol_version": shard.protocol_version,
                 "protocol_options": shard.protocol_options, "evaluator_version": shard.evaluator_version}
        previous = stamps.setdefault(shard.benchmark_id, stamp)
        if previous != stamp:
            raise InconsistentShards(f"shards of benchmark {shard.benchmark_id} were computed under {previous} and {stamp}")
    return stamps


def _summarizing_protocol(benchmark: Benchmark, stamp: Mapping | None):
    """The protocol the shards were scored under (their stamp), else the benchmark's: it turns sums into the stored
    figures (``Protocol.summarize``: means, or agora-multiperson's P/R/F1 and F1-normalised errors)."""
    from evaluator.protocols import get_protocol

    if stamp and stamp.get("protocol"):
        try:
            return get_protocol(str(stamp["protocol"]), stamp.get("protocol_options") or {})
        except ValueError:
            log.warning("Shards of %s were stamped with an unknown protocol %s", benchmark.slug, stamp)
    return benchmark.get_protocol()


def write_results(
    submission: Submission, totals: dict[int, dict[str, MetricSums]], stamps: Mapping[int, Mapping[str, str]] | None = None
) -> SubmissionScores:
    """Store one BenchmarkResult per (benchmark, split), stamped with its protocol, and return the scores (idempotent)."""
    now = timezone.now()
    benchmarks = Benchmark.objects.in_bulk(list(totals))
    stamps = stamps or {}
    with transaction.atomic():
        for benchmark_id, per_split in totals.items():
            benchmark = benchmarks[benchmark_id]
            protocol = _summarizing_protocol(benchmark, stamps.get(benchmark_id))
            for split, sums in per_split.items():
                metrics = protocol.summarize(sums)
                BenchmarkResult.objects.update_or_create(
                    submission=submission,
                    benchmark=benchmark,
                    split=split,
                    defaults={
                        "metrics": metrics,
                        "primary_value": metrics.get(benchmark.primary_metric),
                        "num_samples": sums.num_samples,
                        "computed_at": now,
                        **stamps.get(benchmark_id, {}),
                    },
                )
        return compute_scores(submission)


# --------------------------------------------------------------------------------------------- refresh

def recompute_scores(submission: Submission) -> SubmissionScores:
    """Re-derive and save one submission's scores (results themselves are kept).

    A 'reported' baseline keeps its published scores and coverage: its figures are copied, never derived here.
    """
    if submission.baseline_source == BaselineSource.REPORTED:
        return SubmissionScores(submission.mpe, submission.hand_mpe, submission.pa_hand_mpe,
                                {n: submission_coverage(submission, n) for n in SCORE_NAMES})
    scores = compute_scores(submission)
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(**scores.stored_fields())
        bump_version()  # the cached rankings hold the old scores
    return scores


def recompute_all_scores() -> list[int]:
    """Re-derive every finished, non-reported submission's stored scores; returns the ids whose values changed.

    A handful of queries whatever the number of submissions: results are read once, changed rows bulk-updated.
    """
    definitions = score_definitions()
    candidates = list(
        Submission.objects.filter(status=Status.FINISHED).exclude(baseline_source=BaselineSource.REPORTED)
        .only("pk", "mpe", "hand_mpe", "pa_hand_mpe", "score_coverage", "mpe_coverage_key")
    )
    results: dict[int, dict[tuple[int, str], BenchmarkResult]] = {}
    rows = BenchmarkResult.objects.filter(
        submission__in=[s.pk for s in candidates], benchmark_id__in=definitions.benchmark_ids
    ).only("submission_id", "benchmark_id", "split", "metrics", "protocol", "protocol_version", "protocol_options")
    for result in rows:
        results.setdefault(result.submission_id, {})[(result.benchmark_id, result.split)] = result
    changed = []
    for submission in candidates:
        fields = _scores_from(results.get(submission.pk, {}), definitions).stored_fields()
        if any(getattr(submission, name) != value for name, value in fields.items()):
            for name, value in fields.items():
                setattr(submission, name, value)
            changed.append(submission)
    Submission.objects.bulk_update(changed, list(SubmissionScores(None, None, None).stored_fields()), batch_size=500)
    ids = [s.pk for s in changed]
    if ids:
        log.info("Recomputed scores: %d submission(s) changed", len(ids))
        scores_changed.send(sender=Submission, submission_ids=ids)
    return ids


_PENDING = "_ehps_score_refreshes_pending"  # per-connection count of refreshes scheduled and not yet run


def _refresh_after_commit() -> None:
    """The first of a commit's scheduled refreshes does the work; the others find nothing pending."""
    connection = transaction.get_connection()
    if getattr(connection, _PENDING, 0):
        setattr(connection, _PENDING, 0)
        recompute_all_scores()


def schedule_score_refresh() -> None:
    """Recompute every stored score once the current transaction commits (at once outside a transaction).

    Several changes in one transaction (an import touching a benchmark and its splits) refresh once. A
    rolled-back transaction drops its callbacks but leaves the count set, so the next commit still refreshes.
    """
    connection = transaction.get_connection()
    setattr(connection, _PENDING, getattr(connection, _PENDING, 0) + 1)
    transaction.on_commit(_refresh_after_commit)


# --------------------------------------------------------------------------------------------- for the leaderboard

@dataclass(frozen=True)
class CoveredBenchmark:
    """A benchmark a score averages now, for the leaderboard's 'MPE covers ...' line."""

    slug: str
    name: str
    split: str | None  # None: its ranking split is not revealed yet, so nobody has this score yet
    protocol: str


def current_coverage(score: str = "mpe") -> list[CoveredBenchmark]:
    """Which benchmarks ``score`` ("mpe", "hand_mpe" or "pa_hand_mpe") averages now, in display order."""
    members = score_definitions().scores[score]
    return [CoveredBenchmark(m.benchmark.slug, m.benchmark.name, m.split, m.benchmark.protocol) for m in members]


@dataclass
class CoverageGroup:
    """Rows whose score covers exactly the same results: ranked among themselves only."""

    coverage: Coverage
    is_reported: bool  # figures copied from papers (their coverage names the published benchmarks and source)
    submissions: list[Submission]


def coverage_groups(submissions: Iterable[Submission], score: str = "mpe") -> list[CoverageGroup]:
    """Split ``submissions`` by the coverage of ``score``; biggest computed group first, reported groups after them,
    rows without the score last (their group has an empty coverage). Order inside a group is kept."""
    groups: dict[tuple[bool, str], CoverageGroup] = {}
    for submission in submissions:
        coverage = submission_coverage(submission, score)
        reported = submission.baseline_source == BaselineSource.REPORTED
        key = (reported, coverage.key)
        group = groups.get(key)
        if group is None:
            group = groups[key] = CoverageGroup(coverage, reported, [])
        group.submissions.append(submission)
    return sorted(groups.values(), key=lambda g: (not g.coverage.entries, g.is_reported, -len(g.submissions)))
