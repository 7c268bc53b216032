"""Phases of a benchmark: which one is open, refusing submissions outside one, and when boards change by the clock.

A benchmark without phases is always open (as before phases existed); ``ensure_default_phase`` gives a new
benchmark one open-ended phase, as migration 0004 did for the existing ones. Whose results a phase hides is
``leaderboard.submissions.visibility``'s business (the one visibility rule); this module only knows times.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark, Phase

DEFAULT_PHASE = "main"  # the name migration 0004 gives every existing benchmark's phase


class PhaseClosed(ValueError):
    """No phase of ``benchmark`` is open now; the message names its phases and their dates."""

    def __init__(self, benchmark: Benchmark, phases: list[Phase], now: datetime) -> None:
        self.benchmark = benchmark
        upcoming = [p for p in phases if p.starts_at and p.starts_at > now]
        if upcoming:
            nxt = min(upcoming, key=lambda p: p.starts_at)
            when = f"the next phase, {nxt.label!r}, opens {nxt.starts_at:%Y-%m-%d %H:%M} UTC"
        else:
            when = "its last phase has ended"
        listed = "; ".join(f"{p.label!r} {p.dates}" for p in phases)
        self.reason = f"{when} (phases: {listed})"  # what the submit page's quota box shows
        super().__init__(f"Benchmark {benchmark.slug!r} takes no submissions now: {self.reason}.")


def ensure_default_phase(benchmark: Benchmark) -> None:
    """One open-ended phase for a benchmark that has none (called when a benchmark is created)."""
    if not benchmark.phases.exists():
        Phase.objects.get_or_create(benchmark=benchmark, name=DEFAULT_PHASE)


def open_phase(phases: Iterable[Phase], now: datetime) -> Phase | None:
    return next((p for p in phases if p.is_open(now)), None)


def open_phases(benchmarks: Iterable[Benchmark], now: datetime | None = None,
                phases: Iterable[Phase] | None = None) -> list[Phase]:
    """The open phase of each benchmark that has phases; PhaseClosed for the first benchmark with none open.
    ``phases``: the benchmarks' phases when the caller has them (a cached page), else they are read."""
    now = now or timezone.now()
    benchmarks = list(benchmarks)
    by_benchmark: dict[int, list[Phase]] = {}
    for phase in Phase.objects.filter(benchmark__in=benchmarks) if phases is None else phases:
        by_benchmark.setdefault(phase.benchmark_id, []).append(phase)
    found = []
    for benchmark in benchmarks:
        phases = by_benchmark.get(benchmark.pk)
        if not phases:
            continue  # no phases: always open
        phase = open_phase(phases, now)
        if phase is None:
            raise PhaseClosed(benchmark, phases, now)
        found.append(phase)
    return found


def phase_boundaries() -> tuple[datetime, ...]:
    """Every phase start and end, sorted: the moments a board, a page or a result's visibility may change by the
    clock alone (``board_cache`` folds the ones passed into the leaderboard version)."""
    times = {t for pair in Phase.objects.order_by().values_list("starts_at", "ends_at") for t in pair if t is not None}
    return tuple(sorted(times))


def phase_state(phase: Phase, now: datetime) -> str:
    """'open', 'upcoming' or 'ended'."""
    if phase.is_open(now):
        return "open"
    return "upcoming" if phase.starts_at and now < phase.starts_at else "ended"
