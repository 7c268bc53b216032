"""Issue 24, Medium 3: anonymous requests cannot fill the shared cache (1,200 junk requests added 8.6 MB).

Only canonical board addresses are kept (the parameters a board reads, with the values it used) and only real
pages: an unknown ``/methods/<name>`` is answered (404) but not cached, nor is an unknown parameter or value.
"""
from __future__ import annotations

import pytest
from django.core.cache import caches
from django.test import Client

from leaderboard.web.response_cache import STORE
from tests.web.test_leaderboards import entry

pytestmark = [pytest.mark.usefixtures("trusted_memo"), pytest.mark.django_db(transaction=True)]
JUNK = 20


def cache_keys() -> set[str]:
    """Every key of the shared cache (LocMemCache in tests, or the backend the Redis fallback wraps)."""
    backend = caches["default"]
    while not hasattr(backend, "_cache") and hasattr(backend, "_fallback"):  # a resilient wrapper, if any
        backend = backend._fallback
    return set(backend._cache)


def warm(paths: tuple[str, ...]) -> tuple[set[str], int]:
    for path in paths:
        assert Client().get(path).status_code == 200
    return cache_keys(), len(STORE)


@pytest.mark.parametrize("base", ["/", "/benchmarks/lb-web/", "/api/v1/leaderboard/", "/api/v1/leaderboard/lb-web/"])
def test_junk_query_strings_add_no_cache_keys(alice, board_bench, base):
    entry(alice, board_bench, "Real method", 40.0)
    keys, stored = warm((base, base))
    junk = [f"{base}?utm={i}" for i in range(JUNK)] + [f"{base}?sort=junk{i}" for i in range(JUNK)]
    junk += [f"{base}?page=0{i % 2 + 1}" if not base.startswith("/api/") else f"{base}?offset={i + 1}" for i in range(JUNK)]
    for path in junk:
        assert Client().get(path).status_code in (200, 400, 404)
    assert cache_keys() == keys and len(STORE) == stored


def test_canonical_parameters_are_still_cached(alice, board_bench):
    entry(alice, board_bench, "Real method", 40.0)
    before = cache_keys()
    page = Client().get("/benchmarks/lb-web/?split=test&all=1")
    assert page.status_code == 200 and cache_keys() > before
    assert len(STORE) == 1


def test_unknown_method_pages_are_not_cached(alice, board_bench):
    entry(alice, board_bench, "Real method", 40.0)
    assert Client().get("/methods/Real%20method").status_code == 200
    keys = cache_keys()
    for i in range(JUNK):
        assert Client().get(f"/methods/no-such-method-{i}").status_code == 404
    assert cache_keys() == keys
