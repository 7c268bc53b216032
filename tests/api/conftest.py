"""API fixtures (alice, bob and ``started`` come from tests/conftest.py)."""
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from leaderboard.benchmarks.testing import make_benchmark, write_npz


@pytest.fixture
def staff(db) -> User:
    return User.objects.create_user("root", password="pw-root-123", is_staff=True)


@pytest.fixture
def bench(db):
    """(benchmark, valid prediction arrays) for 'bench-a', 12 samples, one 'test' split."""
    return make_benchmark("bench-a", num_samples=12, seed=1)


@pytest.fixture
def pred_file(bench, tmp_path) -> Path:
    return write_npz(tmp_path / "pred.npz", bench[1])


@pytest.fixture
def client_for():
    def make(user=None) -> APIClient:
        client = APIClient()
        if user is not None:
            client.force_authenticate(user)
        return client
    return make


@pytest.fixture
def stored_uploads():
    """A callable listing every path under uploads/ and tmp/ of private storage (to prove nothing was left)."""
    def listing() -> set[str]:
        root = Path(settings.PRIVATE_STORAGE_ROOT)
        return {str(p.relative_to(root)) for sub in ("uploads", "tmp") if (root / sub).exists() for p in (root / sub).rglob("*")}
    return listing
