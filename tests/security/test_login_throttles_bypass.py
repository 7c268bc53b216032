"""Issue 24, High 2: the login throttles held on every path, whatever the client sends.

- ``/admin/login/`` is a password check too (40 wrong staff passwords, then the right one logged in);
- the client address comes from ``TRUSTED_PROXY_COUNT`` hops of ``X-Forwarded-For``, never from what the client
  wrote there (rotating the header gave 130 × 200 against a 120/min limit);
- the per-account throttle keys the name as authentication reads it (NFKC: ``ｃａｒｏｌ`` logs in as ``carol``).
"""
from __future__ import annotations

import pytest
from django.test import Client, RequestFactory

from tests.security.test_throttles import small_rates  # noqa: F401  (fixture: login 5/min, login_username 8/hour)

pytestmark = pytest.mark.django_db


@pytest.fixture
def users(django_user_model, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast checks; counts are the point
    django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True)
    django_user_model.objects.create_user("carol", password="pw-carol-123")


def forwarded(i: int) -> dict[str, str]:
    return {"HTTP_X_FORWARDED_FOR": f"198.51.100.{i}"}


def test_admin_login_is_throttled(users, small_rates):
    client = Client()
    codes = [client.post("/admin/login/", {"username": "root", "password": f"guess-{i}"}).status_code for i in range(7)]
    assert codes == [200] * 5 + [429] * 2
    refused = client.post("/admin/login/?next=/admin/", {"username": "root", "password": "pw-root-123"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/login/").status_code == 200  # the form itself is not a password check


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/v1/auth/token/", "/admin/login/"])
def test_a_rotated_forwarded_for_header_is_ignored_without_trusted_proxies(users, small_rates, path):
    client = Client()  # each guess names another account, so only the per-address throttle can stop them
    codes = [client.post(path, {"username": f"user{i}", "password": "x"}, **forwarded(i)).status_code for i in range(7)]
    assert codes[5:] == [429, 429] and 429 not in codes[:5]


def test_anonymous_api_reads_count_per_address_whatever_the_header(users, settings):
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    cache.clear()
    rates = {**SimpleRateThrottle.THROTTLE_RATES, "anon": "3/min"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
        codes = [Client().get("/api/v1/benchmarks/", **forwarded(i)).status_code for i in range(5)]
    cache.clear()
    assert codes == [200] * 3 + [429] * 2


def test_the_address_is_the_one_the_trusted_proxies_saw(settings):
    from leaderboard.accounts.throttles import client_address

    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7")
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(request) == "10.0.0.2"  # no proxy: the header is the client's own text
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(request) == "203.0.113.7"  # nginx appended the peer it saw; "6.6.6.6" is the client's
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(request) == "6.6.6.6"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(RequestFactory().get("/", REMOTE_ADDR="10.0.0.2")) == "10.0.0.2"  # header missing


def test_behind_one_proxy_a_spoofed_prefix_changes_nothing(users, small_rates, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    client = Client()
    codes = [client.post("/accounts/login/", {"username": f"user{i}", "password": "x"},
                         HTTP_X_FORWARDED_FOR=f"6.6.6.{i}, 203.0.113.7").status_code for i in range(7)]
    assert codes == [200] * 5 + [429] * 2
    other = client.post("/accounts/login/", {"username": "user9", "password": "x"}, HTTP_X_FORWARDED_FOR="203.0.113.8")
    assert other.status_code == 200  # another client behind the same proxy has its own count


def test_the_account_throttle_keys_the_name_as_authentication_reads_it(users, small_rates):
    from leaderboard.accounts.throttles import username_key

    assert username_key("ｃａｒｏｌ") == username_key(" carol ") == username_key("carol")
    codes = [Client(REMOTE_ADDR=f"10.0.0.{i}").post("/accounts/login/", {"username": "carol", "password": "x"}).status_code
             for i in range(8)]
    assert codes == [200] * 8  # 8/hour spent on carol
    client = Client(REMOTE_ADDR="10.0.1.1")
    response = client.post("/accounts/login/", {"username": "ｃａｒｏｌ", "password": "pw-carol-123"})
    assert response.status_code == 429 and "_auth_user_id" not in client.session
