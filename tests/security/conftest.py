"""A small world for access checks: a benchmark, alice's finished private submission, bob, staff, anonymous."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.testing import make_benchmark
from leaderboard.submissions.actions import create_submission
from leaderboard.submissions.models import BenchmarkResult, Status, Submission


@dataclass
class World:
    benchmark: Benchmark
    submission: Submission  # alice's, finished, private
    running: Submission  # alice's, still running, private
    users: dict[str, User | None]
    gt_bytes: bytes  # the GT file's content, for proving it never leaves the server
    gt_markers: list[str]  # GT values as they would be printed

    def client(self, role: str, **kwargs) -> Client:
        client = Client(**kwargs)
        if self.users[role] is not None:
            client.force_login(self.users[role])
        return client


def npz_upload(arrays: dict[str, np.ndarray], name: str = "pred.npz") -> SimpleUploadedFile:
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return SimpleUploadedFile(name, buffer.getvalue())


@pytest.fixture
def world(db) -> World:
    benchmark, predictions = make_benchmark("bench-s", num_samples=6, seed=5)
    alice = User.objects.create_user("alice", password="pw-alice-123")
    users = {
        "anonymous": None,
        "owner": alice,
        "other": User.objects.create_user("bob", password="pw-bob-123"),
        "staff": User.objects.create_user("root", password="pw-root-123", is_staff=True),
    }
    with mock.patch("leaderboard.submissions.actions._start_evaluation"):
        finished = create_submission(alice, npz_upload(predictions), "predictions", [benchmark.slug], {"method_name": "secret-net"})
        running = create_submission(alice, npz_upload(predictions), "predictions", [benchmark.slug], {"method_name": "busy-net"})
    Submission.objects.filter(pk=finished.pk).update(status=Status.FINISHED, mpe=41.5, progress_done=1, progress_total=1)
    Submission.objects.filter(pk=running.pk).update(status=Status.RUNNING, progress_total=2)
    BenchmarkResult.objects.create(submission=finished, benchmark=benchmark, split="test",
                                   metrics={"pve_all": 41.5}, primary_value=41.5, num_samples=6)
    finished.refresh_from_db()
    running.refresh_from_db()
    gt_file = Path(settings.PRIVATE_STORAGE_ROOT) / benchmark.gt_path
    with np.load(gt_file, allow_pickle=False) as gt:
        markers = [f"{gt['betas'][0, 0]:.6f}", f"{gt['global_orient'][1, 2]:.6f}"]
    return World(benchmark, finished, running, users, gt_file.read_bytes(), markers)


@pytest.fixture
def throttle_rates(monkeypatch):
    """Call with DRF throttle rates ({scope: "n/period"}) for this test; counters are cleared before and after."""
    from django.core.cache import cache
    from rest_framework.throttling import SimpleRateThrottle

    def use(rates: dict[str, str]) -> None:
        monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", rates)
        cache.clear()

    yield use
    cache.clear()
