"""The shared Redis cache, degrading to a per-process memory cache while Redis is down (issue 24, Medium 2).

Everything in the cache can be lost: rendered boards are keyed by a version token read from the database
(``submissions.board_cache``), so a miss is an uncached read; throttle counters (DRF's, in the default cache)
then count per process. That is the chosen fail-safe for throttles: during an outage a limit holds in each web
process on its own (at most limit x processes in all, e.g. 8 x for gunicorn 2 x 4), never no limit at all.

After a failure Redis is left alone for CACHE_RETRY_AFTER_S (one slow or refused connection per process and
interval, not one per request); short socket timeouts (CACHE_SOCKET_TIMEOUT_S) bound the wait on a hung server.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

log = logging.getLogger(__name__)
FALLBACK_NAME = "ehps-redis-fallback"  # LocMemCache shares storage by name: one fallback per process
FALLBACK_MAX_ENTRIES = 5000  # as the LocMemCache of a set-up without CACHE_URL
_down_until = 0.0  # monotonic time before which this process does not try Redis (shared by all threads)


def cache_config(location: str, socket_timeout_s: float = 0.5) -> dict[str, Any]:
    """The CACHES entry for a Redis URL (settings.py builds it, before ``django.conf.settings`` is ready)."""
    timeout = socket_timeout_s
    return {"BACKEND": "leaderboard.resilient_cache.ResilientRedisCache", "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": timeout, "socket_timeout": timeout}}


def reset() -> None:
    """Try Redis on the next call (tests)."""
    global _down_until
    _down_until = 0.0


def _fallback_call(name: str) -> Callable:
    def method(self: ResilientRedisCache, *args, **kwargs):
        global _down_until
        if time.monotonic() >= _down_until:
            try:
                return getattr(RedisCache, name)(self, *args, **kwargs)
            except RedisError as exc:
                _down_until = time.monotonic() + settings.CACHE_RETRY_AFTER_S
                log.warning("cache Redis unavailable (%s); using this process's memory for %s s",
                            exc, settings.CACHE_RETRY_AFTER_S)
        return getattr(self.fallback, name)(*args, **kwargs)

    method.__name__ = name
    return method


class ResilientRedisCache(RedisCache):
    """Django's RedisCache; while Redis fails, the same calls go to a per-process LocMemCache."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self.fallback = LocMemCache(FALLBACK_NAME, {"TIMEOUT": params.get("TIMEOUT", 300), "KEY_PREFIX": self.key_prefix,
                                                    "OPTIONS": {"MAX_ENTRIES": FALLBACK_MAX_ENTRIES}})

    add, get, set, touch = (_fallback_call(n) for n in ("add", "get", "set", "touch"))
    delete, has_key, incr, clear = (_fallback_call(n) for n in ("delete", "has_key", "incr", "clear"))
    get_many, set_many, delete_many = (_fallback_call(n) for n in ("get_many", "set_many", "delete_many"))
