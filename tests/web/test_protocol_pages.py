"""Pages show the protocol that computed each result, what MPE covers, and only the metrics a protocol produces."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from evaluator.metric_names import METRIC_LABELS
from leaderboard.benchmarks.demo_data import smpl_people
from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth
from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from leaderboard.submissions.scores import recompute_scores

pytestmark = pytest.mark.django_db


@pytest.fixture
def body_only():
    """A 3DPW-protocol benchmark (SMPL GT, body only) with one published, scored submission."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gt.npz"
        np.savez(path, **smpl_people(6, 3, keep_splits=False).gt)
        benchmark = import_ground_truth(path, BenchmarkSpec("pw", "PW", protocol="3dpw", primary_metric="mpjpe_body",
                                                            counts_toward_hand_mpe=False, display_order=1))
    return benchmark


def test_body_only_benchmark_shows_na_and_the_protocol(body_only, alice):
    submission = Submission.objects.create(owner=alice, method_name="m", status=Status.FINISHED, is_public=True)
    protocol = body_only.get_protocol()
    BenchmarkResult.objects.create(
        submission=submission, benchmark=body_only, split="test", primary_value=70.0, num_samples=6,
        metrics={"mpjpe_body": 70.0, "pa_mpjpe_body": 50.0}, protocol=protocol.name,
        protocol_version=protocol.version, protocol_options=protocol.options, evaluator_version="9.9.9")
    recompute_scores(submission)

    page = Client().get(submission.get_absolute_url()).content.decode()
    assert f"3dpw v{protocol.version} (evaluator 9.9.9)" in page
    # Only what the protocol produces for the parts this GT has: the two body MPJPEs, no "n/a" rows.
    assert ">n/a<" not in page
    assert [m.label for m in METRIC_LABELS.values() if re.search(f">{re.escape(m.label)}[ <]", page)] == [
        "MPJPE (body, 14 joints)", "PA-MPJPE (body, 14 joints)"]
    assert f"MPE covers pw/test (3dpw v{protocol.version})." in page

    board = Client().get(body_only.get_absolute_url()).content.decode()
    assert ">70.0<" in board and ">n/a<" not in board
    headers = [m.label for m in METRIC_LABELS.values() if f">{m.label}<span" in board]
    assert headers == ["MPJPE (body, 14 joints)", "PA-MPJPE (body, 14 joints)"]
