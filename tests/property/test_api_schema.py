"""Schemathesis against the served OpenAPI schema (/api/v1/schema/), authenticated with a token: no 5xx.

The schema is fetched from the WSGI app at collection (schemathesis' lazy ``from_fixture`` loader does not work
with pytest 9). Examples per operation are bounded (settings below) so the module runs in well under a minute.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle
from schemathesis.checks import not_a_server_error

from django.core.wsgi import get_wsgi_application

from leaderboard.benchmarks.testing import make_benchmark

# The site's WSGI app without leaderboard.wsgi's serving check (tests run on the public development key).
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())


@pytest.fixture
def token(db, django_user_model, monkeypatch) -> str:
    """A user's token, a benchmark to aim at, no throttling, and the test transaction kept open across requests."""
    from django.core.cache import cache
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    # Calling the WSGI app in-process would close the test's connection at each request end;
    # Django's own test client unhooks the same handlers.
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", dict.fromkeys(SimpleRateThrottle.THROTTLE_RATES, "100000/min"))
    cache.clear()
    make_benchmark("bench-a", num_samples=4, seed=1)
    yield Token.objects.create(user=django_user_model.objects.create_user("fuzzer", password="pw-fuzz-123")).key
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, token):
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=[not_a_server_error])
