"""Fixtures for worker tests: a user, synthetic benchmark/submission factories (``eager`` is in tests/conftest.py)."""
from __future__ import annotations

from collections.abc import Callable

import pytest

from workers.synthetic import create_benchmark, create_submission


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
