"""Issue 12, Medium 11: password checks and token creation are throttled, and throttles are shared by all web
processes when the cache is Redis (CACHE_URL)."""
from __future__ import annotations

import http.client
from urllib.parse import urlencode, urlsplit

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.throttling import SimpleRateThrottle

from tests.fixtures_live import LiveStack, live_stack  # noqa: F401  (fixture)
from tests.security.conftest import World

RATES = {"anon": "1000/min", "user": "1000/min", "login": "5/min", "login_username": "8/hour", "token": "2/hour"}


@pytest.fixture
def small_rates(monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", RATES)
    cache.clear()
    yield
    cache.clear()


def test_wrong_passwords_on_the_login_form_are_throttled(world: World, small_rates):
    client = Client()
    codes = [client.post("/accounts/login/", {"username": "alice", "password": f"guess-{i}"}).status_code
             for i in range(7)]
    assert codes == [200] * 5 + [429] * 2
    refused = client.post("/accounts/login/", {"username": "alice", "password": "pw-alice-123"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session  # even the right password waits


def test_wrong_passwords_on_the_token_api_are_throttled(world: World, small_rates):
    client = Client()
    codes = [client.post("/api/v1/auth/token/", {"username": "alice", "password": f"guess-{i}"}).status_code
             for i in range(7)]
    assert codes == [400] * 5 + [429] * 2
    assert client.post("/api/v1/auth/token/", {"username": "alice", "password": "x"}).json()["detail"]


def test_one_account_guessed_from_many_addresses_is_throttled(world: World, small_rates):
    codes = [Client(REMOTE_ADDR=f"10.0.0.{i}").post("/accounts/login/", {"username": "Alice", "password": "x"}).status_code
             for i in range(10)]
    assert codes == [200] * 8 + [429] * 2
    # another account is not affected
    assert Client(REMOTE_ADDR="10.0.1.1").post("/accounts/login/", {"username": "bob", "password": "x"}).status_code == 200


def test_token_creation_is_throttled_per_user(world: World, small_rates):
    client = world.client("owner")
    codes = [client.post("/accounts/token/").status_code for _ in range(4)]
    assert codes == [302, 302, 429, 429]


@pytest.mark.integration
def test_throttles_are_shared_by_all_gunicorn_processes(live_stack: LiveStack):
    """3 processes with a Redis cache: exactly the limit passes, not up to 3 times it."""
    limit = 10
    base = live_stack.start_gunicorn(workers=3, CACHE_URL=f"{live_stack.redis.url}/2", API_THROTTLE_ANON=f"{limit}/min",
                                     THROTTLE_LOGIN=f"{limit}/min")
    url = urlsplit(base)
    import redis

    redis.Redis(port=live_stack.redis.port, db=2).flushdb()  # forget start_gunicorn's readiness probes

    def request(method: str, path: str, body: str | None = None) -> int:
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)  # a new connection each time
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if body else {}
        conn.request(method, path, body=body, headers=headers)
        status = conn.getresponse().status
        conn.close()
        return status

    reads = [request("GET", "/api/v1/benchmarks/") for _ in range(4 * limit)]
    assert reads.count(200) == limit and reads.count(429) == 3 * limit
    guesses = [request("POST", "/api/v1/auth/token/", urlencode({"username": "alice", "password": "x"}))
               for _ in range(3 * limit)]
    assert guesses.count(400) == limit and guesses.count(429) == 2 * limit


def test_a_token_request_whose_json_is_not_an_object_is_a_400(world: World, small_rates):
    response = Client().post("/api/v1/auth/token/", "[null, null]", content_type="application/json")
    assert response.status_code == 400
