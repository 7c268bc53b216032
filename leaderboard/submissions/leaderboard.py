"""Ranking queries for the public leaderboards (web pages, JSON API and CSV/JSON exports share them).

A board is the overall ranking (by MPE) or one benchmark split (by its primary metric). By default it lists one
row per entrant: a user, or a team for team submissions, with their best submission on the ranking metric
(Codabench's "Force_Best"); baselines are each their own entrant. ``best_only=False`` lists every submission.

Order: lower is better; a missing value always sorts last whatever the direction; ties keep the earlier
submission first (then the lower id), so the order is deterministic. Ranks (competition style: 1, 2, 2, 4)
always follow the ranking metric, whatever column the rows are sorted by; rows without a value get no rank.
The database does the filtering, ordering, ranking and paging (window functions, LIMIT/OFFSET).

Comparability (``leaderboard.submissions.scores`` decides it): rows are ranked only against rows with the same
coverage, in sections. Overall: the MPE coverage (``Submission.mpe_coverage_key``), reported rows apart from
computed ones; the biggest computed section first, then smaller ones, then reported ones, then rows without an MPE.
Per benchmark: the protocol and version a result was computed with, reported results apart. "One row per entrant"
picks an entrant's best within each section, since scores of different sections do not compare.
"""
from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import (
    Case, CharField, Count, Expression, F, FloatField, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When,
    Window,
)
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, Concat, Rank, RowNumber
from django.urls import reverse

from leaderboard.benchmarks.models import Benchmark, Phase, Split
from leaderboard.submissions.efficiency import NUMBER_BOUNDS, board_efficiency, combine_figures, row_provenance
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Efficiency, Status, Submission
from leaderboard.submissions.scores import Coverage, CoverageEntry, ScoreDefinitions, score_definitions
from leaderboard.submissions.visibility import is_staff, phase_hidden_q, public_submission_q

SORT_DIRECTIONS = ("asc", "desc")
OVERALL_SCORES = ("mpe", "hand_mpe", "pa_hand_mpe")
# What a leaderboard row needs from a submission: never the model log, the eval plan or the description.
ROW_FIELDS = (
    "id", "uuid", "method_name", "paper_url", "code_url", "baseline_source", "citation", "created_at", "is_public",
    "mpe", "hand_mpe", "pa_hand_mpe", "owner_id", "team_id", "owner__username", "team__name",
    "kind", "upload_sha256", "checkpoint_sha256", "code_commit",  # provenance (efficiency.row_provenance)
)
NO_SCORE_SECTION = "none"


def leaderboard_submissions() -> QuerySet[Submission]:
    """What the public leaderboards list: finished published submissions and baselines, except those whose phase
    hides results until it ends (``visibility.phase_hidden_q``).

    A 'reported' baseline carries numbers copied from a paper, so it is listed whatever its status.
    """
    return Submission.objects.filter(
        (Q(status=Status.FINISHED) & public_submission_q()) | Q(baseline_source=BaselineSource.REPORTED)
    ).exclude(phase_hidden_q())


def entrant_expression(prefix: str = "") -> Expression:
    """Who a row belongs to for "one row per entrant": each baseline alone, else the team, else the owner."""
    def col(name: str) -> Cast:
        return Cast(f"{prefix}{name}", CharField())

    return Case(
        When(~Q(**{f"{prefix}baseline_source": ""}), then=Concat(Value("s"), col("id"))),
        When(Q(**{f"{prefix}team__isnull": False}), then=Concat(Value("t"), col("team_id"))),
        default=Concat(Value("u"), col("owner_id")),
        output_field=CharField(),
    )


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass
class Row:
    """One leaderboard row, plain data only (cheap to cache and to render)."""

    rank: int | None
    submission_id: int
    uuid: str
    url: str
    method_name: str
    owner: str
    team: str | None
    baseline_source: str
    citation: str
    paper_url: str
    code_url: str
    created_at: datetime
    values: dict[str, float | None]  # overall: mpe, hand_mpe, pa_hand_mpe; benchmark: every metric
    primary: dict[str, float | None] = field(default_factory=dict)  # overall: benchmark slug -> primary value
    num_samples: int | None = None
    section: str = ""  # rows rank only against rows of the same section
    section_title: str = ""
    why_empty: dict[str, str] = field(default_factory=dict)  # overall: empty score -> why (which benchmark lacks it)
    efficiency: dict | None = None  # efficiency.board_efficiency: ms/image, peak memory, params, device, source
    provenance: dict | None = None  # efficiency.row_provenance (computed rows only)

    @property
    def is_baseline(self) -> bool:
        return bool(self.baseline_source)

    @property
    def entrant(self) -> str:
        return self.citation or (f"team {self.team} ({self.owner})" if self.team else self.owner)

    @property
    def anchor(self) -> str:
        return f"s-{self.uuid}"

    @property
    def metrics(self) -> dict[str, float | None]:
        return self.values

    @property
    def mpe(self) -> float | None:
        return self.values.get("mpe")

    @property
    def hand_mpe(self) -> float | None:
        return self.values.get("hand_mpe")

    @property
    def pa_hand_mpe(self) -> float | None:
        return self.values.get("pa_hand_mpe")

    @property
    def submission(self) -> Submission:
        """The model row (one query): for scripts and tests; the pages never need it."""
        return Submission.objects.get(pk=self.submission_id)


@dataclass(frozen=True)
class Board:
    """Which rows, in which order: the cache key and the query are both derived from it."""

    benchmark: Benchmark | None  # None: the overall board
    split: Split | None
    best_only: bool
    sort: str
    direction: str
    benchmarks: tuple[Benchmark, ...] = ()  # overall: the columns (active benchmarks)
    phase: Phase | None = None  # benchmark: only submissions made in this phase (None: every phase)

    @property
    def ranking_metric(self) -> str:
        return "mpe" if self.benchmark is None else self.benchmark.primary_metric

    @property
    def key(self) -> str:
        where = "overall" if self.benchmark is None else f"{self.benchmark.pk}/{self.split.name if self.split else '-'}"
        if self.phase is not None:
            where += f"/phase-{self.phase.pk}"
        return f"{where}:{'best' if self.best_only else 'all'}:{self.sort}:{self.direction}"

    @property
    def is_empty(self) -> bool:
        return self.benchmark is not None and self.split is None


def _direction(direction: str | None) -> str:
    return direction if direction in SORT_DIRECTIONS else "asc"


def overall_board(benchmarks: list[Benchmark] | None = None, best_only: bool = True, sort: str | None = None,
                  direction: str | None = "asc") -> Board:
    """The overall board; ``sort`` is a score (mpe, hand_mpe, pa_hand_mpe) or a benchmark slug (its primary)."""
    if benchmarks is None:
        benchmarks = list(Benchmark.objects.filter(is_active=True))
    if sort not in OVERALL_SCORES and sort not in {b.slug for b in benchmarks}:
        sort = "mpe"
    return Board(None, None, best_only, sort, _direction(direction), tuple(benchmarks))


def benchmark_board(benchmark: Benchmark, split: Split | None, best_only: bool = True, sort: str | None = None,
                    direction: str | None = "asc", phase: Phase | None = None) -> Board:
    if sort not in board_metrics(benchmark):
        sort = benchmark.primary_metric
    return Board(benchmark, split, best_only, sort, _direction(direction), phase=phase)


def board_metrics(benchmark: Benchmark) -> tuple[str, ...]:
    """The metric keys a benchmark board's rows carry (sortable, exported): the generic recipe's, plus the figures of
    a protocol with its own (agora-multiperson: P/R/F1, F1-normalised errors)."""
    from evaluator.metric_names import ALL_METRICS, METRICS

    return METRICS + tuple(k for k in benchmark.applicable_metrics() if k not in ALL_METRICS)


def phase_splits(splits: list[Split], phase: Phase | None) -> list[Split]:
    """The splits a phase's board shows (all when the phase names none, or without a phase)."""
    if phase is None or not phase.splits:
        return splits
    return [s for s in splits if s.name in phase.splits]


def display_split(benchmark: Benchmark, user=None, requested: str | None = None,
                  splits: list[Split] | None = None) -> Split | None:
    """The split a leaderboard shows: the requested one if the user may see it, else the ranking split.

    ``splits`` (the benchmark's splits in name order) saves the queries when the caller has them cached.
    """
    splits = list(benchmark.splits.order_by("name")) if splits is None else splits
    visible = splits if is_staff(user) else [s for s in splits if s.is_revealed]
    if requested:
        chosen = next((s for s in visible if s.name == requested), None)
        if chosen is not None:
            return chosen
    ranking = next((s for s in splits if s.is_ranking and s.is_revealed), None)
    if ranking is None and is_staff(user):
        ranking = next((s for s in visible if s.is_ranking), None)
    return ranking or (visible[0] if visible else None)


# ----------------------------------------------------------------------------------------------- queries


def _metric(name: str) -> Cast:
    return Cast(KT(f"metrics__{name}"), FloatField())


def _ranking_split_names(benchmarks: tuple[Benchmark, ...]) -> dict[int, str]:
    """Each benchmark's revealed ranking split, one query for all of them."""
    splits = Split.objects.filter(benchmark__in=benchmarks, is_ranking=True, is_revealed=True).order_by("benchmark_id", "name")
    names: dict[int, str] = {}
    for benchmark_id, name in splits.values_list("benchmark_id", "name"):
        names.setdefault(benchmark_id, name)
    return names


def _primary_subquery(benchmark: Benchmark, split_name: str) -> Subquery:
    return Subquery(
        BenchmarkResult.objects.filter(submission=OuterRef("pk"), benchmark=benchmark, split=split_name)
        .values("primary_value")[:1], output_field=FloatField(),
    )


def _reported(prefix: str = "") -> Case:
    return Case(When(**{f"{prefix}baseline_source": BaselineSource.REPORTED}, then=Value(1)), default=Value(0),
                output_field=IntegerField())


def _overall_section() -> Expression:
    """'<reported 0|1>:<MPE coverage key>', or NO_SCORE_SECTION for rows without an MPE (or no recorded coverage)."""
    return Case(
        When(Q(mpe__isnull=True) | Q(mpe_coverage_key=""), then=Value(NO_SCORE_SECTION)),
        default=Concat(Cast(_reported(), CharField()), Value(":"), F("mpe_coverage_key")),
        output_field=CharField(),
    )


def _benchmark_section() -> Expression:
    """'<reported 0|1>:<protocol>:<version>' of a result: numbers compare only under the same protocol version."""
    return Case(
        When(Q(metrics__isnull=True), then=Value(NO_SCORE_SECTION)),
        default=Concat(Cast(_reported("submission__"), CharField()), Value(":"), F("protocol"), Value(":"),
                       F("protocol_version")),
        output_field=CharField(),
    )


def _sectioned(qs: QuerySet, section: Expression, rank_value: Expression, reported: Expression) -> QuerySet:
    """Annotate rank (within the section), the section's size and its place in the page order."""
    return qs.annotate(section=section).annotate(
        rank_value=rank_value,
        section_reported=Case(When(section=NO_SCORE_SECTION, then=Value(0)), default=reported, output_field=IntegerField()),
        section_last=Case(When(section=NO_SCORE_SECTION, then=Value(1)), default=Value(0), output_field=IntegerField()),
        section_size=Window(Count("pk"), partition_by=[F("section")]),
        rank=Window(Rank(), partition_by=[F("section")], order_by=rank_value.asc(nulls_last=True)),
    )


def _overall_rows(board: Board) -> QuerySet[Submission]:
    """The submissions listed on the overall board: all, or each entrant's best within each section."""
    base = leaderboard_submissions()
    if not board.best_only:
        return base
    best = base.annotate(entrant=entrant_expression(), section=_overall_section(), pick=Window(
        RowNumber(), partition_by=[F("entrant"), F("section")],
        order_by=[F("mpe").asc(nulls_last=True), F("created_at").asc(), F("id").asc()],
    )).filter(pick=1)
    return Submission.objects.filter(pk__in=best.values("pk"))


def _benchmark_rows(board: Board) -> QuerySet[BenchmarkResult]:
    """The results listed on a benchmark board: all, or each entrant's best within each section."""
    base = BenchmarkResult.objects.filter(
        benchmark=board.benchmark, split=board.split.name, submission__in=leaderboard_submissions()
    )
    if board.phase is not None:
        base = base.filter(submission__phases=board.phase)
    if not board.best_only:
        return base
    best = base.annotate(entrant=entrant_expression("submission__"), section=_benchmark_section(), pick=Window(
        RowNumber(), partition_by=[F("entrant"), F("section")],
        order_by=[_metric(board.benchmark.primary_metric).asc(nulls_last=True), F("submission__created_at").asc(),
                  F("submission_id").asc()],
    )).filter(pick=1)
    return BenchmarkResult.objects.filter(pk__in=best.values("pk"))


def _overall_queryset(board: Board) -> QuerySet:
    """Submissions of the overall board annotated with sections, ``rank_value``, ``sort_value`` and ``rank``."""
    qs = _sectioned(_overall_rows(board), _overall_section(), F("mpe"), _reported())
    if board.sort in OVERALL_SCORES:
        return qs.annotate(sort_value=F(board.sort))
    benchmark = next(b for b in board.benchmarks if b.slug == board.sort)
    split = _ranking_split_names((benchmark,)).get(benchmark.pk, "")
    return qs.annotate(sort_value=_primary_subquery(benchmark, split))


def _benchmark_queryset(board: Board) -> QuerySet:
    """Results on the board's benchmark split annotated with sections, ``rank_value``, ``sort_value`` and ``rank``."""
    primary = _metric(board.benchmark.primary_metric)
    return _sectioned(_benchmark_rows(board), _benchmark_section(), primary, _reported("submission__")).annotate(
        sort_value=_metric(board.sort)
    )


def _ordered(board: Board) -> QuerySet:
    if board.benchmark is None:
        qs, created, pk = _overall_queryset(board), "created_at", "id"
    else:
        qs, created, pk = _benchmark_queryset(board), "submission__created_at", "submission_id"
    value = F("sort_value")
    value = value.desc(nulls_last=True) if board.direction == "desc" else value.asc(nulls_last=True)
    # Sections: comparable rows together, biggest computed section first, reported after, unscored last.
    return qs.order_by("section_last", "section_reported", F("section_size").desc(), "section", value,
                       F(created).asc(), F(pk).asc())


def board_count(board: Board) -> int:
    if board.is_empty:
        return 0
    return (_overall_rows(board) if board.benchmark is None else _benchmark_rows(board)).count()


def _submission_url_prefix() -> str:
    """The detail URL with the uuid cut off, so building thousands of rows costs no ``reverse`` each."""
    sample = "00000000-0000-0000-0000-000000000000"
    return reverse("submission-detail", args=[sample]).replace(sample, "{}")


def _section_title(section: str, coverage: Coverage, reported: bool, score: str) -> str:
    if section == NO_SCORE_SECTION or not coverage.entries:
        return f"Without a comparable {score}"
    return f"{'Reported in papers' if reported else 'Computed here'}: {score} on {coverage.label}"


def _row(values: dict, url: str, rank: int | None, row_values: dict, **extra) -> Row:
    return Row(
        rank=rank if _number(values["rank_value"]) is not None else None,
        submission_id=values["id"], uuid=str(values["uuid"]), url=url.format(values["uuid"]),
        method_name=values["method_name"], owner=values["owner__username"], team=values["team__name"],
        baseline_source=values["baseline_source"], citation=values["citation"], paper_url=values["paper_url"],
        code_url=values["code_url"], created_at=values["created_at"], values=row_values, **extra,
    )


def board_rows(board: Board, offset: int = 0, limit: int | None = None) -> list[Row]:
    """Rows ``offset`` .. ``offset + limit`` of the board in display order (all rows when ``limit`` is None)."""
    if board.is_empty:
        return []
    qs = _ordered(board)
    qs = qs[offset:offset + limit] if limit is not None else qs[offset:]
    url = _submission_url_prefix()
    if board.benchmark is None:
        found = list(qs.values(*ROW_FIELDS, "rank", "rank_value", "section", "section_reported", "score_coverage"))
        primary = _primary_values(board.benchmarks, [v["id"] for v in found])
        why = _why_empty(found)
        efficiency = board_efficiency([v["id"] for v in found])
        return [
            _row(v, url, v["rank"], {k: _number(v[k]) for k in OVERALL_SCORES}, primary=primary.get(v["id"], {}),
                 why_empty=why.get(v["id"], {}), efficiency=efficiency.get(v["id"]), provenance=_provenance(v),
                 section=v["section"], section_title=_section_title(
                     v["section"], Coverage.from_json((v["score_coverage"] or {}).get("mpe")), bool(v["section_reported"]), "MPE"))
            for v in found
        ]
    fields = [f"submission__{name}" for name in ROW_FIELDS]
    found = list(qs.values(*fields, "metrics", "num_samples", "rank", "rank_value", "section", "section_reported",
                           "protocol", "protocol_version", "evaluator_version"))
    efficiency = board_efficiency([v["submission__id"] for v in found], board.benchmark.pk)
    keys = board_metrics(board.benchmark)
    rows = []
    for v in found:
        plain = {name: v[f"submission__{name}"] for name in ROW_FIELDS} | {"rank_value": v["rank_value"]}
        metrics = v["metrics"] or {}
        coverage = Coverage.of([CoverageEntry(board.benchmark.slug, board.split.name, v["protocol"], v["protocol_version"])])
        rows.append(_row(plain, url, v["rank"], {k: _number(metrics.get(k)) for k in keys}, num_samples=v["num_samples"],
                         efficiency=efficiency.get(plain["id"]), provenance=_provenance(plain, v),
                         section=v["section"], section_title=_section_title(
                             v["section"], coverage, bool(v["section_reported"]),
                             metric_label(board.benchmark.primary_metric, board.benchmark))))
    return rows


SCORE_LABELS = {"mpe": "MPE", "hand_mpe": "Hand MPE", "pa_hand_mpe": "Hand PA-MPE"}


def _provenance(values: dict, stamp: dict | None = None) -> dict | None:
    """Provenance of a row scored here; None for figures copied from a paper."""
    return None if values["baseline_source"] == BaselineSource.REPORTED else row_provenance(values, stamp)


def _why_empty(found: list[dict]) -> dict[int, dict[str, str]]:
    """For each row with an empty overall score, why: the benchmarks it averages that have no value for the row.

    One query for the page, only when some score on it is empty; figures copied from a paper say so instead.
    """
    empty = {v["id"]: [k for k in OVERALL_SCORES if _number(v[k]) is None] for v in found}
    empty = {pk: names for pk, names in empty.items() if names}
    if not empty:
        return {}
    reported = {v["id"] for v in found if v["baseline_source"] == BaselineSource.REPORTED}
    definitions = score_definitions()
    results = _ranking_results(definitions, [pk for pk in empty if pk not in reported])
    why: dict[int, dict[str, str]] = {}
    for pk, names in empty.items():
        why[pk] = {name: f"No {SCORE_LABELS[name]}: " + (
            "the cited source does not report it" if pk in reported else _missing(definitions, name, results.get(pk, {})))
            for name in names}
    return why


def _ranking_results(definitions: ScoreDefinitions, submission_ids: list[int]) -> dict[int, dict[int, dict]]:
    """{submission id: {benchmark id: metrics}} on each scored benchmark's revealed ranking split."""
    wanted = Q(pk__in=[])
    for member in {m for members in definitions.scores.values() for m in members if m.split}:
        wanted |= Q(benchmark_id=member.benchmark.pk, split=member.split)
    found: dict[int, dict[int, dict]] = {}
    rows = BenchmarkResult.objects.filter(wanted, submission_id__in=submission_ids)
    for submission_id, benchmark_id, metrics in rows.values_list("submission_id", "benchmark_id", "metrics"):
        found.setdefault(submission_id, {})[benchmark_id] = metrics or {}
    return found


def _missing(definitions: ScoreDefinitions, score: str, results: dict[int, dict]) -> str:
    members = definitions.scores.get(score, ())
    if not members:
        return "no active benchmark counts toward it"
    reasons = []
    for member in members:
        name = member.benchmark.name
        if member.split is None:
            reasons.append(f"{name} has no revealed ranking split yet")
        elif member.benchmark.pk not in results:
            reasons.append(f"no result on {name}")
        elif _number(results[member.benchmark.pk].get(member.metric)) is None:
            reasons.append(f"{name} has no {metric_label(member.metric)} for it")
    return "; ".join(reasons) or "no value"


def metric_label(key: str, benchmark: Benchmark | None = None) -> str:
    from evaluator.metric_names import METRIC_LABELS

    meta = (benchmark.metric_labels() if benchmark is not None else METRIC_LABELS).get(key) or METRIC_LABELS.get(key)
    return meta.label if meta else key


def _primary_values(benchmarks: tuple[Benchmark, ...], submission_ids: list[int]) -> dict[int, dict[str, float | None]]:
    """Each submission's primary value on every benchmark's ranking split: one query for the whole page."""
    split_of = _ranking_split_names(benchmarks)
    slug_of = {b.pk: b.slug for b in benchmarks}
    values: dict[int, dict[str, float | None]] = {pk: {} for pk in submission_ids}
    if not submission_ids or not split_of:
        return values
    wanted = Q(pk__in=[])
    for benchmark_id, split in split_of.items():
        wanted |= Q(benchmark_id=benchmark_id, split=split)
    results = BenchmarkResult.objects.filter(wanted, submission_id__in=submission_ids)
    for submission_id, benchmark_id, value in results.values_list("submission_id", "benchmark_id", "primary_value"):
        values[submission_id][slug_of[benchmark_id]] = _number(value)
    return values


def speed_rows(board: Board) -> list[tuple[str, float, dict]]:
    """(method name, MPE, combined figures) of every overall-board row with an MPE and an ms/image, in one query
    (the accuracy-vs-speed plot: the whole board, not a page)."""
    found: dict[int, tuple[str, float, list[dict]]] = {}
    rows = (Efficiency.objects.filter(submission__in=_overall_rows(board), submission__mpe__isnull=False)
            .values_list("submission_id", "submission__method_name", "submission__mpe", "source", *NUMBER_BOUNDS,
                         "device").order_by("submission_id", "benchmark_id"))
    for pk, name, mpe, source, ms, memory, params, device in rows:
        found.setdefault(pk, (name, mpe, []))[2].append(
            {"source": source, "ms_per_image": ms, "peak_memory_mb": memory, "params": params, "device": device})
    combined = [(name, mpe, combine_figures(figures)) for name, mpe, figures in found.values()]
    return [row for row in combined if row[2]["ms_per_image"]]


def iter_board_rows(board: Board, chunk: int = 500) -> Iterator[Row]:
    """Every row of the board in order, ``chunk`` rows per query (for streamed exports)."""
    offset = 0
    while True:
        rows = board_rows(board, offset, chunk)
        yield from rows
        if len(rows) < chunk:
            return
        offset += chunk


@dataclass(frozen=True)
class Position:
    index: int  # 0-based position in display order
    rank: int | None
    uuid: str


def board_positions(board: Board) -> tuple[dict[int, Position], dict[int, Position]]:
    """Where each submission sits, and where each owner's first row sits: (by submission id, by owner id)."""
    if board.is_empty:
        return {}, {}
    qs = _ordered(board)
    if board.benchmark is None:
        found = qs.values_list("id", "owner_id", "uuid", "rank", "rank_value")
    else:
        found = qs.values_list("submission_id", "submission__owner_id", "submission__uuid", "rank", "rank_value")
    by_submission: dict[int, Position] = {}
    by_owner: dict[int, Position] = {}
    for index, (submission_id, owner_id, uuid, rank, value) in enumerate(found):
        position = Position(index, rank if _number(value) is not None else None, str(uuid))
        by_submission[submission_id] = position
        by_owner.setdefault(owner_id, position)
    return by_submission, by_owner


def overall_leaderboard(benchmarks: list[Benchmark] | None = None, best_only: bool = False) -> list[Row]:
    """Every row of the overall board by MPE (all submissions unless ``best_only``), uncached."""
    return board_rows(overall_board(benchmarks, best_only))


def benchmark_leaderboard(benchmark: Benchmark, split: Split | None, sort: str | None = None, direction: str = "asc",
                          best_only: bool = False) -> tuple[list[Row], str, str]:
    """Every row of one benchmark split (all submissions unless ``best_only``), uncached: (rows, sort, direction)
    with the sort actually applied, so an unknown key falls back cleanly."""
    board = benchmark_board(benchmark, split, best_only, sort, direction)
    return board_rows(board), board.sort, board.direction


def method_rows(name: str) -> list[Row]:
    """Every listed submission named ``name`` (any entrant), newest first, with its overall scores and primaries."""
    benchmarks = tuple(Benchmark.objects.filter(is_active=True))
    found = list(leaderboard_submissions().filter(method_name=name).order_by("-created_at", "-id")
                 .values(*ROW_FIELDS).annotate(rank_value=F("mpe")))
    primary = _primary_values(benchmarks, [v["id"] for v in found])
    url = _submission_url_prefix()
    return [_row(v, url, None, {k: _number(v[k]) for k in OVERALL_SCORES}, primary=primary.get(v["id"], {})) for v in found]
