"""Submission quotas: per user per benchmark per UTC day, and a cap on submissions in progress.

Failed and cancelled submissions do not count towards the daily quota (a broken upload or a
cancelled run should not cost a researcher their day) unless a model of theirs ran: every model run
used worker time on held-out data, and free failed runs would make the few bits a run may leak
unlimited. A cancelled or failed run counts as in progress until its sandbox has stopped.
Staff are exempt (they upload baselines).
Callers must hold a lock on the user row (``lock_user``) so two parallel uploads cannot both pass.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone as dt_timezone

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.models import IN_PROGRESS_STATUSES, Status, Submission


@dataclass
class QuotaExceeded(Exception):
    """A quota refused a submission; ``as_dict`` is the body of the 429 answer."""

    limit: str  # "daily_per_benchmark" | "in_progress"
    message: str
    count: int
    maximum: int
    resets_at: datetime | None = None
    benchmark: str | None = None

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


def in_progress_count(user) -> int:
    """Submissions of ``user`` that count against MAX_SUBMISSIONS_IN_PROGRESS."""
    return (
        Submission.objects.filter(owner=user).filter(Q(status__in=IN_PROGRESS_STATUSES) | Q(sandbox_active=True)).count()
    )


def used_today(user, benchmark: Benchmark, start: datetime, end: datetime) -> int:
    """Submissions of ``user`` to ``benchmark`` in [start, end) that count against the daily quota."""
    return (
        Submission.objects.filter(owner=user, benchmarks=benchmark, created_at__gte=start, created_at__lt=end)
        .exclude(status__in=[Status.FAILED, Status.CANCELLED], model_runs=0)
        .count()
    )


@dataclass(frozen=True)
class QuotaLeft:
    """What ``user`` may still submit now (shown before an upload); ``None`` counts mean unlimited (staff)."""

    in_progress: int
    in_progress_max: int | None
    per_benchmark_left: dict[str, int | None]  # slug -> submissions left today
    per_day: int
    resets_at: datetime

    @property
    def can_submit(self) -> bool:
        return self.in_progress_max is None or self.in_progress < self.in_progress_max


def quota_left(user, benchmarks: list[Benchmark], now: datetime | None = None) -> QuotaLeft:
    """The quotas ``check_quotas`` applies, as counts left (no lock: a display, the upload re-checks)."""
    start, end = day_window(now)
    per_day = settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY
    if user.is_staff:
        return QuotaLeft(in_progress_count(user), None, {b.slug: None for b in benchmarks}, per_day, end)
    left = {b.slug: max(0, per_day - used_today(user, b, start, end)) for b in benchmarks}
    return QuotaLeft(in_progress_count(user), settings.MAX_SUBMISSIONS_IN_PROGRESS, left, per_day, end)


def check_quotas(user, benchmarks: list[Benchmark], now: datetime | None = None) -> None:
    """Raise QuotaExceeded if ``user`` may not submit to ``benchmarks`` now."""
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
    per_day = settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY
    for benchmark in benchmarks:
        used = used_today(user, benchmark, start, end)
        if used >= per_day:
            raise QuotaExceeded(
                limit="daily_per_benchmark",
                message=(
                    f"Daily limit reached for benchmark '{benchmark.slug}': {used} of {per_day} submissions today "
                    f"(failed and cancelled submissions do not count unless a model ran). The quota resets at 00:00 UTC "
                    f"({end:%Y-%m-%d %H:%M} UTC, in {_in(end - (now or timezone.now()))})."
                ),
                count=used,
                maximum=per_day,
                resets_at=end,
                benchmark=benchmark.slug,
            )
