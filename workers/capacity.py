"""How many pool processes consume the evaluate queue right now, so shards are planned for them.

A fixed shard size leaves processes idle (a 2,000-sample benchmark on one of two processes ran 1.6x
slower than in-process) or unbalanced (10k samples as 3+2 shards on two processes: 1.13x slower than 20
shards). ``EVAL_WORKER_PROCESSES`` pins the number; 0 asks the running workers (Celery's remote
control ``stats`` + ``active_queues``, sent together; the answer is kept for ``_TTL_S`` in Django's cache,
Redis in production, so one pool process asks for all of them instead of each paying the broadcasts' wait).
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

_TTL_S = 60.0
_REPLY_TIMEOUT_S = 1.0  # each broadcast waits this long (the number of workers is unknown); 0.5 s missed replies on a loaded host
_CACHE_KEY = "workers:evaluate-processes:{queue}"
_lock = threading.Lock()
_cached: dict[str, tuple[float, int]] = {}  # queue -> (monotonic time, count): kept through a cache outage


def _ask_workers(app, queue: str) -> int:
    # Each broadcast waits its whole timeout (how many workers will answer is unknown): send both at once.
    with ThreadPoolExecutor(2) as pool:
        stats_reply = pool.submit(lambda: app.control.inspect(timeout=_REPLY_TIMEOUT_S).stats())
        queues_reply = pool.submit(lambda: app.control.inspect(timeout=_REPLY_TIMEOUT_S).active_queues())
        stats, queues = stats_reply.result() or {}, queues_reply.result() or {}
    total = 0
    for worker, info in stats.items():
        if any(q.get("name") == queue for q in queues.get(worker, [])):
            total += int(info.get("pool", {}).get("max-concurrency", 1) or 1)
    return total


def evaluate_processes(app=None, queue: str = "evaluate") -> int:
    """Pool processes serving ``queue`` (0 = unknown: eager mode, no worker answered, broker down)."""
    if settings.EVAL_WORKER_PROCESSES > 0:
        return settings.EVAL_WORKER_PROCESSES
    if app is None:
        from workers.celery_app import app
    if app.conf.task_always_eager:
        return 0
    with _lock:
        seen = _cached.get(queue)
        if seen is not None and time.monotonic() - seen[0] < _TTL_S:
            return seen[1]
    count = _shared_answer(queue)
    if count is None:
        try:
            count = _ask_workers(app, queue)
        except Exception:  # planning must never fail a submission; fall back to EVAL_SHARD_SIZE
            logger.warning("Could not ask the workers how many processes they run", exc_info=True)
            count = 0
        try:
            cache.set(_CACHE_KEY.format(queue=queue), count, _TTL_S)
        except Exception:  # a cache outage only costs the next process its own broadcast
            logger.warning("Could not share the evaluate process count", exc_info=True)
    with _lock:
        _cached[queue] = (time.monotonic(), count)
    return count


def _shared_answer(queue: str) -> int | None:
    """The count another process asked for within ``_TTL_S``, if any."""
    try:
        return cache.get(_CACHE_KEY.format(queue=queue))
    except Exception:
        return None


def forget(queue: str = "evaluate") -> None:
    """Drop the remembered count, in this process and in the shared cache."""
    with _lock:
        _cached.pop(queue, None)
    cache.delete(_CACHE_KEY.format(queue=queue))
