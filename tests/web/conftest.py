from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.test import Client

from leaderboard.benchmarks.testing import make_benchmark


@pytest.fixture
def alice(db) -> User:
    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db) -> User:
    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def bench(db):
    return make_benchmark("bench-w", num_samples=10, seed=2)


@pytest.fixture
def logged_in():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client
    return make


@pytest.fixture
def started():
    with mock.patch("leaderboard.submissions.actions._start_evaluation") as start:
        yield start
