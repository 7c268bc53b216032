"""Keep this process's leaderboard version memo fresh from a background thread (gunicorn workers only).

Without it a request whose memo has expired reads the version row itself: one query every
LEADERBOARD_VERSION_TTL_S per process, each on whichever request thread comes first, and a thread of a gthread
worker that has not queried yet opens its own database connection for it first (a new PostgreSQL backend): a
slow request now and then among cached ones. With it the row is read every half TTL by one thread over one
long-lived connection, so a cached page needs no database at all and a change made by another process shows
within half the TTL. If the thread cannot read (the database is down) the memo expires and requests read the row
themselves, as before.

``leaderboard.gunicorn_conf.post_worker_init`` starts it; tests and management commands never do (a thread
outside the test's transaction would see other rows than the test).
"""
from __future__ import annotations

import contextlib
import logging
import threading

from django.conf import settings
from django.db import connection

from leaderboard.submissions import board_cache

logger = logging.getLogger(__name__)
_started: threading.Thread | None = None


def _refresh_forever(interval: float, stop: threading.Event) -> None:
    failing = False
    while True:
        try:
            board_cache.read_version()
            failing = False
        except Exception:  # noqa: BLE001 - keep refreshing; requests read the row themselves meanwhile
            if not failing:  # once per outage, not every interval
                logger.warning("could not read the leaderboard version; retrying", exc_info=True)
            failing = True
            with contextlib.suppress(Exception):
                connection.close()  # a broken connection is replaced on the next read
        if stop.wait(interval):
            connection.close()
            return


def start_version_refresher(interval: float | None = None, stop: threading.Event | None = None) -> threading.Thread:
    """Start this process's refresher once: a daemon thread reading the row every ``interval`` seconds (half
    LEADERBOARD_VERSION_TTL_S by default, so the memo never expires while it runs); ``stop`` ends it."""
    global _started
    if _started is not None and _started.is_alive():
        return _started
    every = settings.LEADERBOARD_VERSION_TTL_S / 2 if interval is None else interval
    _started = threading.Thread(target=_refresh_forever, args=(every, stop or threading.Event()),
                                name="leaderboard-version", daemon=True)
    _started.start()
    return _started
