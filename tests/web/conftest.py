"""Page fixtures (alice, bob and ``started`` come from tests/conftest.py)."""
import pytest
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.benchmarks.testing import make_benchmark


@pytest.fixture
def bench(db):
    return make_benchmark("bench-w", num_samples=10, seed=2)


@pytest.fixture
def board_bench(db) -> Benchmark:
    """A benchmark with one revealed ranking split and no GT files (rows are made with test_leaderboards.entry)."""
    benchmark = Benchmark.objects.create(slug="lb-web", name="LB Web", gt_path="gt/lb-web/gt.npz")
    Split.objects.create(benchmark=benchmark, name="test", is_ranking=True, is_revealed=True, num_samples=4)
    return benchmark


@pytest.fixture
def logged_in():
    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client
    return make


@pytest.fixture
def trusted_memo(settings):
    """The leaderboard version memo never expires within the test, as in a gunicorn worker whose refresher thread
    keeps it fresh: only a committed bump makes the process read the row again."""
    settings.LEADERBOARD_VERSION_TTL_S = 600
