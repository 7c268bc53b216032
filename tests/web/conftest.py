"""Page fixtures (alice, bob and ``started`` come from tests/conftest.py)."""
import pytest
from django.test import Client

from leaderboard.benchmarks.testing import make_benchmark


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
