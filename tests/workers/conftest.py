"""Fixtures for worker tests: a user, synthetic benchmark/submission factories, a private Redis broker (``eager`` is in
tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import redis
from celery import Celery

from tests.fixtures_live import RedisServer, free_port
from workers.synthetic import create_benchmark, create_submission


@pytest.fixture(scope="session")
def private_redis(tmp_path_factory) -> Iterator[RedisServer]:
    """A redis-server of the session's own: backlogs of 100k+ messages stay off the shared one."""
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_app(private_redis, monkeypatch) -> Iterator[Celery]:
    """A Celery app whose broker is the (emptied) private redis-server, which no worker consumes."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)  # Celery would prefer it to the broker given below
    client = redis.Redis.from_url(private_redis.url)
    client.flushall()
    probe = Celery("probe", broker=f"{private_redis.url}/0", set_as_current=False)
    yield probe
    probe.close()
    client.flushall()
    client.close()


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def make_benchmark() -> Callable:
    return create_benchmark


@pytest.fixture
def make_submission(user) -> Callable:
    def make(benchmarks, **kwargs):
        return create_submission(user, benchmarks, **kwargs)

    return make
