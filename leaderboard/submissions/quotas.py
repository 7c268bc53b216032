"""Submission quotas: per user per benchmark per UTC day, and a cap on submissions in progress.

Failed and cancelled submissions do not count towards the daily quota (a broken upload or a
cancelled run should not cost a researcher their day) unless a model of theirs ran: every model run
used worker time on held-out data, and free failed runs would make the few bits a run may leak
unlimited. A cancelled or failed run counts as in progress until its sandbox has stopped.
Staff are exempt (they upload baselines).

A benchmark's open phase may set its own daily limit and a limit over the whole phase. A submission made for a
team counts toward the team's quota (every member's submissions for it) and toward its submitter's own: teams are
self-service, so a separate quota per team would let anyone multiply theirs by founding teams.
Callers must hold a lock on the user row (``lock_user``, and ``lock_team``) so two parallel uploads cannot both pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark, Phase
from leaderboard.benchmarks.phases import PhaseClosed, open_phases
from leaderboard.submissions.models import IN_PROGRESS_STATUSES, Status, Submission, Team


@dataclass
class QuotaExceeded(Exception):
    """A quota refused a submission; ``as_dict`` is the body of the 429 answer."""

    limit: str  # "daily_per_benchmark" | "in_progress"
    message: str
    count: int
    maximum: int
    resets_at: datetime | None = None
    benchmark: str | None = None
    team: str | None = None
    phase: str | None = None

    def __str__(self) -> str:
        return self.message

    def as_dict(self) -> dict:
        return {
            "error": "quota_exceeded",
            "limit": self.limit,
            "detail": self.message,
            "count": self.count,
            "max": self.maximum,
            "benchmark": self.benchmark,
            "team": self.team,
            "phase": self.phase,
            "resets_at": self.resets_at.isoformat() if self.resets_at else None,
        }


def day_window(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The current UTC day [start, end)."""
    now = (now or timezone.now()).astimezone(dt_timezone.utc)
    start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def _in(delta: timedelta) -> str:
    minutes = max(1, int(delta.total_seconds() // 60))
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def lock_user(user) -> None:
    """Serialise quota checks of one user (call inside ``transaction.atomic``)."""
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()


def lock_team(team: Team | None) -> None:
    """Serialise quota checks of one team's members (inside ``transaction.atomic``, after ``lock_user``)."""
    if team is not None:
        Team.objects.select_for_update().filter(pk=team.pk).first()


def in_progress_count(user) -> int:
    """Submissions of ``user`` that count against MAX_SUBMISSIONS_IN_PROGRESS."""
    return (
        Submission.objects.filter(owner=user).filter(Q(status__in=IN_PROGRESS_STATUSES) | Q(sandbox_active=True)).count()
    )


def _counted(user, team: Team | None = None) -> QuerySet[Submission]:
    """Submissions that count toward a quota: ``user``'s (any team), or ``team``'s (any member)."""
    return Submission.objects.filter(Q(team=team) if team is not None else Q(owner=user)).exclude(
        status__in=[Status.FAILED, Status.CANCELLED], model_runs=0)


def used_today(user, benchmark: Benchmark, start: datetime, end: datetime, team: Team | None = None) -> int:
    """Submissions of ``user`` (or for ``team``) to ``benchmark`` in [start, end) that count against the daily quota."""
    return _counted(user, team).filter(benchmarks=benchmark, created_at__gte=start, created_at__lt=end).count()


def used_in_phase(user, phase: Phase, team: Team | None = None) -> int:
    return _counted(user, team).filter(phases=phase).count()


def per_day_limit(phase: Phase | None) -> int:
    """A phase's daily limit, or SUBMISSIONS_PER_BENCHMARK_PER_DAY."""
    if phase is not None and phase.submissions_per_day is not None:
        return phase.submissions_per_day
    return settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY


def _phases_now(benchmarks: list[Benchmark], now: datetime) -> tuple[dict[int, Phase], dict[str, str]]:
    """Each benchmark's open phase (by id), and why each benchmark whose phases are all closed takes nothing now
    (by slug; ``PhaseClosed.reason``, the rule the upload applies)."""
    phases = list(Phase.objects.filter(benchmark__in=benchmarks))
    open_of: dict[int, Phase] = {}
    closed: dict[str, str] = {}
    for benchmark in benchmarks:
        try:
            open_of.update((p.benchmark_id, p) for p in open_phases([benchmark], now, phases))
        except PhaseClosed as exc:
            closed[benchmark.slug] = exc.reason
    return open_of, closed


@dataclass(frozen=True)
class Usage:
    """One entrant's (a user's, or a team's) submissions to one benchmark against the limits its open phase sets."""

    used_today: int
    per_day: int
    used_in_phase: int = 0
    phase_max: int | None = None  # None: no limit over the whole phase
    phase_label: str = ""

    @property
    def left_today(self) -> int:
        return max(0, self.per_day - self.used_today)

    @property
    def left_in_phase(self) -> int | None:
        return None if self.phase_max is None else max(0, self.phase_max - self.used_in_phase)


def usage(user, benchmark: Benchmark, phase: Phase | None, start: datetime, end: datetime,
          team: Team | None = None) -> Usage:
    """What counts against ``benchmark``'s daily and whole-phase limits for ``team`` (or ``user`` when None): the
    figures ``check_quotas`` refuses on and the submit page shows."""
    used = used_today(user, benchmark, start, end, team)
    if phase is None or phase.max_submissions is None:
        return Usage(used, per_day_limit(phase))
    return Usage(used, per_day_limit(phase), used_in_phase(user, phase, team), phase.max_submissions, phase.label)


@dataclass(frozen=True)
class QuotaLeft:
    """What ``user`` may still submit now (shown before an upload); staff: no limits (``in_progress_max`` None)."""

    in_progress: int
    in_progress_max: int | None
    per_benchmark: dict[str, Usage]  # slug -> the user's own usage (empty for staff)
    resets_at: datetime
    teams: dict[str, dict[str, Usage]] = field(default_factory=dict)  # team name -> slug -> the team's usage
    closed: dict[str, str] = field(default_factory=dict)  # slug -> why it takes no submissions now (no open phase)

    @property
    def can_submit(self) -> bool:
        return self.in_progress_max is None or self.in_progress < self.in_progress_max


def quota_left(user, benchmarks: list[Benchmark], now: datetime | None = None) -> QuotaLeft:
    """The quotas ``check_quotas`` applies, for ``user`` and for each of their teams (no lock: a display, the upload
    re-checks)."""
    start, end = day_window(now)
    if user.is_staff:
        return QuotaLeft(in_progress_count(user), None, {}, end)
    phase_of, closed = _phases_now(benchmarks, now or timezone.now())

    def of(team: Team | None) -> dict[str, Usage]:
        return {b.slug: usage(user, b, phase_of.get(b.pk), start, end, team)
                for b in benchmarks if b.slug not in closed}

    teams = {team.name: of(team) for team in user.teams.order_by("name")}
    return QuotaLeft(in_progress_count(user), settings.MAX_SUBMISSIONS_IN_PROGRESS, of(None), end, teams, closed)


def check_quotas(user, benchmarks: list[Benchmark], now: datetime | None = None, team: Team | None = None,
                 phases: list[Phase] | None = None) -> None:
    """Raise QuotaExceeded if ``user`` (for ``team``, if given) may not submit to ``benchmarks`` now; ``phases``:
    the benchmarks' open phases (their limits apply), read when not given."""
    if user.is_staff:
        return
    in_progress = in_progress_count(user)
    cap = settings.MAX_SUBMISSIONS_IN_PROGRESS
    if in_progress >= cap:
        raise QuotaExceeded(
            limit="in_progress",
            message=(
                f"You already have {in_progress} submission(s) in progress (the limit is {cap}). "
                "Wait for one to finish, or cancel one, then submit again."
            ),
            count=in_progress,
            maximum=cap,
        )
    start, end = day_window(now)
    now = now or timezone.now()
    phase_of = _phases_now(benchmarks, now)[0] if phases is None else {p.benchmark_id: p for p in phases}
    for benchmark in benchmarks:
        phase = phase_of.get(benchmark.pk)
        for entrant in (None, team) if team is not None else (None,):
            _check_benchmark(user, benchmark, phase, entrant, start, end, now)


def _check_benchmark(user, benchmark: Benchmark, phase: Phase | None, team: Team | None, start: datetime,
                     end: datetime, now: datetime) -> None:
    """The daily and whole-phase limits of one entrant (``team``, or ``user`` when None) on one benchmark."""
    who = f" for team '{team.name}'" if team is not None else ""
    counts = usage(user, benchmark, phase, start, end, team)
    if counts.left_today == 0:
        raise QuotaExceeded(
            limit="daily_per_benchmark",
            message=(
                f"Daily limit reached{who} for benchmark '{benchmark.slug}': {counts.used_today} of {counts.per_day} "
                f"submissions today (failed and cancelled submissions do not count unless a model ran). The quota "
                f"resets at 00:00 UTC ({end:%Y-%m-%d %H:%M} UTC, in {_in(end - now)})."
            ),
            count=counts.used_today, maximum=counts.per_day, resets_at=end, benchmark=benchmark.slug,
            team=team.name if team is not None else None, phase=phase.name if phase is not None else None,
        )
    if counts.left_in_phase == 0:
        raise QuotaExceeded(
            limit="per_phase",
            message=(f"Phase limit reached{who} for benchmark '{benchmark.slug}': {counts.used_in_phase} of "
                     f"{counts.phase_max} submissions in phase '{phase.label}' ({phase.dates})."),
            count=counts.used_in_phase, maximum=counts.phase_max, resets_at=phase.ends_at, benchmark=benchmark.slug,
            team=team.name if team is not None else None, phase=phase.name,
        )
