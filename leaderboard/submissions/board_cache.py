"""Cached leaderboards: everything derived from the rankings is cached under the current version token.

Invalidation is a single bump of ``LeaderboardVersion`` (one database row): a new token makes every cached
entry unreachable (they expire on their own). The bump runs inside the transaction that changes the data, so a
reader sees the new token exactly when it can see the new rows; a reader that computed old rows stores them
under the old token, which nobody asks for any more. That makes it race-free with any cache backend, including
a per-process LocMemCache, since the token itself is read from the database.

Each process remembers the last committed token it read for LEADERBOARD_VERSION_TTL_S (never one read inside
a transaction, and a committed bump forgets it); a gunicorn worker keeps that memo fresh from a background
thread (``leaderboard.submissions.version_refresher``), so its requests read no row.

What bumps it: finalize of a submission that is public or a baseline, publish/unpublish, score recompute, and
(through ``leaderboard.submissions.signals``) saves and deletes of submissions on a board, their results,
benchmarks, splits, phases, teams and user names. The clock changes it too: each phase start or end passed is
folded into the token (``with_clock``), so results hidden until a phase ends appear, and never earlier.

This module knows nothing of how a board is built, so every module that changes scores can bump the version
without an import circle; the cached board reads themselves live in ``leaderboard.submissions.cached_boards``.
"""
from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone

from leaderboard.benchmarks.phases import phase_boundaries
from leaderboard.submissions.models import LeaderboardVersion

T = TypeVar("T")
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def _code_stamp() -> str:
    """Changes when the code or templates that build cached entries change, so a deploy never serves old HTML
    from a shared (Redis) cache."""
    files = sorted([*PACKAGE_ROOT.glob("web/templates/web/*.html"), *PACKAGE_ROOT.glob("web/templatetags/*.py"),
                    PACKAGE_ROOT / "submissions" / "leaderboard.py", PACKAGE_ROOT / "api" / "exports.py",
                    PACKAGE_ROOT / "web" / "leaderboard_views.py"])
    digest = hashlib.sha1()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


CODE_STAMP = _code_stamp()
VERSION_PK = 1
INITIAL_TOKEN = "initial"


@dataclass(frozen=True)
class Version:
    token: str
    changed_at: datetime | None
    next_change: datetime | None = None  # the next phase start or end: the clock changes the boards then

    def etag(self, *parts: object) -> str:
        """A strong ETag for a response built from this version and ``parts`` (query, user...)."""
        digest = hashlib.sha1("|".join([self.token, *map(str, parts)]).encode()).hexdigest()[:32]
        return f'"{digest}"'


_seen: tuple[float, Version] | None = None  # (monotonic time read, version): this process's last read
_generation = 0  # counts forget_version() calls: a read that started before one must not be remembered
_memo_lock = threading.Lock()


def current_version() -> Version:
    """The version token, read from the database at most every LEADERBOARD_VERSION_TTL_S per process.

    A change committed in this process is seen at once (``bump_version`` forgets the memo on commit); one made
    elsewhere (a Celery worker, another gunicorn process) within that time, or within the version refresher's
    interval where it runs, well inside the 1 s freshness target. Inside a transaction the row is always read:
    the memo is shared by the process's threads and holds committed tokens only, while the transaction may
    have bumped the version itself.
    """
    seen = _seen
    if seen is not None and time.monotonic() - seen[0] < settings.LEADERBOARD_VERSION_TTL_S \
            and not connection.in_atomic_block and (seen[1].next_change is None or timezone.now() < seen[1].next_change):
        return seen[1]
    return read_version()


def with_clock(token: str, changed_at: datetime | None, boundaries: tuple[datetime, ...], now: datetime) -> Version:
    """The version as of ``now``: each phase start or end passed is a change, so a result hidden until a phase
    ends, or a phase's open/closed label, is never served from an entry cached before that moment."""
    passed = [t for t in boundaries if t <= now]
    if passed:
        token = f"{token}+{len(passed)}"
        changed_at = max(changed_at, passed[-1]) if changed_at else passed[-1]
    return Version(token, changed_at, next((t for t in boundaries if t > now), None))


def read_version() -> Version:
    """Read the token from the database; remember it unless it may not be committed (read in a transaction) or
    a bump committed while it was read."""
    global _seen
    generation, now = _generation, time.monotonic()
    row = LeaderboardVersion.objects.filter(pk=VERSION_PK).values_list("token", "changed_at", "phase_boundaries").first()
    token, changed_at, boundaries = row or (INITIAL_TOKEN, None, [])
    version = with_clock(token, changed_at, tuple(datetime.fromisoformat(t) for t in boundaries or ()), timezone.now())
    if not connection.in_atomic_block:
        with _memo_lock:
            if generation == _generation:
                _seen = (now, version)
    return version


def forget_version() -> None:
    """Drop this process's memo: the next ``current_version()`` reads the row."""
    global _seen, _generation
    with _memo_lock:
        _seen = None
        _generation += 1


def bump_version() -> None:
    """Invalidate every cached leaderboard. Call it last in the transaction that changed the data.

    The new token reaches the memo only after the commit (other threads of this process can see the new rows
    only then; remembering it earlier would let them cache the old rows under it); the transaction itself reads
    its own new token from the database meanwhile.
    """
    now = timezone.now()
    fields = {"token": uuid.uuid4().hex, "changed_at": now,
              "phase_boundaries": [t.isoformat() for t in phase_boundaries()]}
    if not LeaderboardVersion.objects.filter(pk=VERSION_PK).update(**fields):
        # First bump on a fresh database; ON CONFLICT DO NOTHING keeps a concurrent first bump harmless.
        LeaderboardVersion.objects.bulk_create([LeaderboardVersion(pk=VERSION_PK, **fields)], ignore_conflicts=True)
        LeaderboardVersion.objects.filter(pk=VERSION_PK).update(**fields)
    transaction.on_commit(forget_version)  # at once outside a transaction


def _full_key(version: Version, key: str) -> str:
    return f"lb:{CODE_STAMP}:{version.token}:{hashlib.sha1(key.encode()).hexdigest()}"


def peek(version: Version, key: str):
    """The cached value for ``key`` under ``version``, or None."""
    return cache.get(_full_key(version, key))


def store(version: Version, key: str, value) -> None:
    cache.set(_full_key(version, key), value, settings.LEADERBOARD_CACHE_SECONDS)


def cached(version: Version, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per version and key; later calls read the cache."""
    value = peek(version, key)
    if value is None:
        value = compute()
        store(version, key, value)
    return value
