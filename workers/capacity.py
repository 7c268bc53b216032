"""How many pool processes consume the evaluate queue right now, so shards are planned for them.

A fixed shard size leaves processes idle (a 2,000-sample benchmark on one of two processes ran 1.6x
slower than in-process) or unbalanced (10k samples as 3+2 shards on two processes: 1.13x slower than 20
shards). ``EVAL_WORKER_PROCESSES`` pins the number; 0 asks the running workers (Celery's remote
control ``stats`` + ``active_queues``, one broadcast, answer cached for ``_TTL_S``).
"""
from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

logger = logging.getLogger(__name__)

_TTL_S = 60.0
_REPLY_TIMEOUT_S = 1.0  # each broadcast waits this long (the number of workers is unknown); 0.5 s missed replies on a loaded host
_lock = threading.Lock()
_cached: tuple[float, int] | None = None


def _ask_workers(app, queue: str) -> int:
    inspect = app.control.inspect(timeout=_REPLY_TIMEOUT_S)
    stats = inspect.stats() or {}
    queues = inspect.active_queues() or {}
    total = 0
    for worker, info in stats.items():
        if any(q.get("name") == queue for q in queues.get(worker, [])):
            total += int(info.get("pool", {}).get("max-concurrency", 1) or 1)
    return total


def evaluate_processes(app=None, queue: str = "evaluate") -> int:
    """Pool processes serving ``queue`` (0 = unknown: eager mode, no worker answered, broker down)."""
    global _cached
    if settings.EVAL_WORKER_PROCESSES > 0:
        return settings.EVAL_WORKER_PROCESSES
    if app is None:
        from workers.celery_app import app
    if app.conf.task_always_eager:
        return 0
    with _lock:
        if _cached is not None and time.monotonic() - _cached[0] < _TTL_S:
            return _cached[1]
    try:
        count = _ask_workers(app, queue)
    except Exception:  # planning must never fail a submission; fall back to EVAL_SHARD_SIZE
        logger.warning("Could not ask the workers how many processes they run", exc_info=True)
        count = 0
    with _lock:
        _cached = (time.monotonic(), count)
    return count


def forget() -> None:
    global _cached
    with _lock:
        _cached = None
