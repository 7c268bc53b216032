"""The in-process cache of whole anonymous board responses (leaderboard/web/response_cache.py)."""
from __future__ import annotations

import time

import pytest
from django.db import connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from leaderboard.benchmarks.models import Split
from leaderboard.submissions import board_cache
from leaderboard.submissions.actions import set_published
from leaderboard.submissions.models import BenchmarkResult
from leaderboard.web import response_cache
from leaderboard.web.response_cache import STORE, Entry, ResponseStore, remember, request_key, share
from tests.web.test_leaderboards import entry

BOARD_URLS = ("/", "/benchmarks/lb-web/", "/api/v1/leaderboard/", "/api/v1/leaderboard/lb-web/")


@pytest.mark.usefixtures("trusted_memo")
@pytest.mark.django_db(transaction=True)  # outside a transaction, as when serving: the version memo is used
@pytest.mark.parametrize("path", BOARD_URLS)
def test_a_warm_anonymous_request_runs_no_query_view_or_template(alice, board_bench, path):
    entry(alice, board_bench, "Cached", 40.0)
    first = Client().get(path)
    assert first.status_code == 200 and len(STORE) == 1
    with CaptureQueriesContext(connection) as queries:
        again = Client().get(path)
    assert len(queries) == 0 and again.templates == []  # answered by the middleware, before any view
    assert again.content == first.content and b"Cached" in again.content
    assert dict(again.items()) == dict(first.items())  # ETag, Cache-Control, Vary, X-Frame-Options...
    with CaptureQueriesContext(connection) as queries:
        unchanged = Client().get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert len(queries) == 0 and unchanged.status_code == 304 and unchanged["ETag"] == first["ETag"]
    assert "no-cache" in unchanged["Cache-Control"] and not unchanged.content
    stale = Client().get(path, HTTP_IF_NONE_MATCH='"something-else"')
    assert stale.status_code == 200 and stale.content == first.content


@pytest.mark.usefixtures("trusted_memo")
@pytest.mark.django_db(transaction=True)  # the memo is in use: the commit of each change must forget it
def test_publish_and_unpublish_reach_the_cached_copies_at_once(alice, bob, board_bench):
    mine = entry(alice, board_bench, "Mine", 40.0)
    late = entry(bob, board_bench, "Late", 30.0, public=False)
    for path in BOARD_URLS:
        Client().get(path)
        assert b"Mine" in Client().get(path).content and b"Late" not in Client().get(path).content, path
    set_published(late, True)  # forgets this process's memo although its TTL has not run out
    for path in BOARD_URLS:
        assert b"Late" in Client().get(path).content, path
    set_published(mine, False)
    for path in BOARD_URLS:
        assert b"Mine" not in Client().get(path).content, path


def test_signed_in_users_get_their_own_page_and_never_leave_it_in_the_store(alice, bob, board_bench):
    entry(alice, board_bench, "Alices", 40.0)
    entry(bob, board_bench, "Bobs", 50.0)
    anonymous = Client().get("/").content.decode()
    assert "Your row" not in anonymous and len(STORE) == 1
    me = Client()
    me.force_login(alice)
    page = me.get("/")
    assert "Your row: #1" in page.content.decode() and page.templates  # rendered for alice, not the stored copy
    assert "private" in page["Cache-Control"] and len(STORE) == 1  # ...and not stored for anyone
    assert Client().get("/").content.decode() == anonymous


def test_hidden_splits_reach_staff_with_a_token_and_never_the_anonymous_copy(alice, board_bench, django_user_model):
    hidden = Split.objects.create(benchmark=board_bench, name="secret", is_revealed=False, num_samples=4)
    shown = entry(alice, board_bench, "Visible", 40.0)
    BenchmarkResult.objects.create(submission=shown, benchmark=board_bench, split=hidden.name, primary_value=7.3,
                                   num_samples=4, metrics={"mpvpe_all": 7.3})
    staff = django_user_model.objects.create_user("judge", is_staff=True)
    token = Token.objects.create(user=staff).key
    path = "/api/v1/leaderboard/lb-web/?split=secret"
    public = Client().get(path).json()
    assert public["split"] == "test" and len(STORE) == 0  # "secret" was not the split shown: a junk value, not kept
    for header in (f"Token {token}", f"Bearer {token}"):
        as_staff = Client().get(path, HTTP_AUTHORIZATION=header).json()
        assert as_staff["split"] == "secret" and as_staff["rows"][0]["metrics"]["mpvpe_all"] == 7.3, header
    assert len(STORE) == 0 and Client().get(path).json() == public
    page = "/benchmarks/lb-web/?split=secret"
    cell = 'key-col">7.3<'
    assert cell not in Client().get(page).content.decode()
    judge = Client()
    judge.force_login(staff)
    assert cell in judge.get(page).content.decode()
    assert cell not in Client().get(page).content.decode()


def test_only_cookie_less_anonymous_gets_are_eligible(settings):
    factory = RequestFactory()
    assert request_key(factory.get("/?page=2", HTTP_ACCEPT="application/json")) == \
        "http://testserver/?page=2\napplication/json"
    assert request_key(factory.get("/", HTTP_COOKIE="csrftoken=abc; theme=dark")) is not None
    for ineligible in (factory.head("/"), factory.post("/"), factory.get("/", HTTP_AUTHORIZATION="Token x"),
                       factory.get("/", HTTP_COOKIE=f"{settings.SESSION_COOKIE_NAME}=abc"),
                       factory.get("/", HTTP_COOKIE="messages=abc")):
        assert request_key(ineligible) is None


def test_only_shared_plain_200s_without_cookies_or_csrf_tokens_are_kept():
    version = board_cache.Version("t1", None)
    request = RequestFactory().get("/")
    key = request_key(request)
    cookie = share(HttpResponse(b"x"), version)
    cookie.set_cookie("csrftoken", "abc")
    for response in (HttpResponse(b"not marked"), share(HttpResponse(b"gone", status=404), version), cookie):
        remember(request, key, response)
    csrf = RequestFactory().get("/")
    csrf.META["CSRF_COOKIE_NEEDS_UPDATE"] = True  # the page rendered a token for this visitor
    remember(csrf, key, share(HttpResponse(b"token"), version))
    assert len(STORE) == 0 and not STORE.knows("/")
    remember(request, key, share(HttpResponse(b"shared"), version))
    assert STORE.get("t1", key, 60).body == b"shared" and STORE.knows("/")
    assert STORE.get("t2", key, 60) is None  # another version never sees it


def test_the_store_is_an_lru_bounded_by_body_bytes_and_age():
    store = ResponseStore(max_bytes=10)

    def put(key: str, size: int, age: float = 0.0) -> None:
        store.put("t", key, "/", Entry(b"x" * size, (), None, None, time.monotonic() - age))

    put("a", 4)
    put("b", 4)
    assert store.get("t", "a", 60) is not None  # a is now the most recent
    put("c", 4)  # 12 bytes > 10: the least recently used (b) goes
    assert store.get("t", "b", 60) is None and store.get("t", "a", 60) and store.get("t", "c", 60)
    put("huge", 11)
    assert store.get("t", "huge", 60) is None and len(store) == 2
    put("old", 1, age=120)
    assert store.get("t", "old", 60) is None and len(store) == 2


def test_middleware_is_right_after_whitenoise(settings):
    middleware = settings.MIDDLEWARE
    assert middleware.index(f"{response_cache.__name__}.AnonymousBoardCacheMiddleware") == \
        middleware.index("whitenoise.middleware.WhiteNoiseMiddleware") + 1
