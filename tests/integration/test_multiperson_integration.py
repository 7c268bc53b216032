"""End to end for a multi-person benchmark (agora-multiperson): API upload → Redis → a real `celery worker` → the board.

GT as prediction, people shuffled across the file: every eligible person is matched (P = R = F1 = 1) with zero error.
"""
from __future__ import annotations

import numpy as np
import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.benchmarks.testing import gt_as_prediction, make_multiperson_benchmark
from leaderboard.submissions.models import ShardResult, Status, Submission
from tests.archives import npz_zip_upload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("wmp", EVAL_SHARD_SIZE=4, EVAL_CHUNK_SIZE=2)


def test_gt_as_prediction_shuffled_is_perfect_on_the_board(worker, django_user_model, wait):
    benchmark, gt, _ = make_multiperson_benchmark("multi", images=10, seed=6, splits=("val", "test"),
                                                  hidden_splits=["test"], ranking_split="val")
    eligible = np.flatnonzero(gt["valid"])  # an invalid person predicted would be a false positive (official quirk)
    pred = gt_as_prediction(gt, np.random.default_rng(1).permutation(eligible))
    owner = django_user_model.objects.create_user("dana", password="pw-dana-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    response = client.post("/api/v1/submissions/", {"file": npz_zip_upload({"multi": pred}), "method_name": "GT"},
                           format="multipart")
    assert response.status_code == 201, response.content
    submission_id = Submission.objects.get(uuid=response.json()["id"]).pk

    done = wait(lambda: Submission.objects.filter(pk=submission_id, status__in=[Status.FINISHED, Status.FAILED]).first(),
                120, "the worker to finish")
    assert done.status == Status.FINISHED, done.error_message
    assert ShardResult.objects.filter(submission=done).count() == 3  # 10 images, 4 a shard: never half an image
    results = {r.split: r.metrics for r in done.results.all()}
    for split in ("val", "test"):
        m = results[split]
        assert (m["precision"], m["recall"], m["f1"], m["false_positives"], m["misses"]) == (1.0, 1.0, 1.0, 0, 0)
        assert m["fb_nmve"] == m["fb_nmje"] == m["body_mve"] == m["kid_fb_nmve_raw"] == 0.0
    assert done.mpe is None  # never part of MPE

    assert client.post(f"/api/v1/submissions/{done.uuid}/publish/").status_code == 200
    rows = APIClient().get("/api/v1/leaderboard/multi/").json()["rows"]
    assert [(r["method_name"], r["metrics"]["f1"], r["metrics"]["fb_nmve"]) for r in rows] == [("GT", 1.0, 0.0)]
    page = APIClient().get("/benchmarks/multi/").content.decode()
    assert "FB-NMVE" in page and "1.00" in page
