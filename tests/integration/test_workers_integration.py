"""End to end on real infrastructure: API → Redis → `celery -A workers worker` processes → PostgreSQL.

Shards are made small (many of them) so a worker can be killed while one is running.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from celery.result import AsyncResult
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.submissions.models import BenchmarkResult, ShardResult, Status, Submission
from tests.archives import npz_zip_upload
from workers import pipeline
from workers.synthetic import create_benchmark, create_submission, direct_means, noisy_predictions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SHARD_SIZE, CHUNK_SIZE = 64, 16


@pytest.fixture(scope="module")
def workers(start_worker):
    """Two workers, one pool process each, sharing the queues; Redis re-delivers a dead worker's message after 5 s."""
    config = dict(EVAL_SHARD_SIZE=SHARD_SIZE, EVAL_CHUNK_SIZE=CHUNK_SIZE, CELERY_VISIBILITY_TIMEOUT_S=5)
    return {"a": start_worker("wa", **config), "b": start_worker("wb", **config)}


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("bob", password="pw-bob-12345")


def api_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def npz_upload(arrays: dict[str, np.ndarray], name: str) -> io.BytesIO:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    buffer.name = name
    return buffer


def finished(submission_id: int, statuses=(Status.FINISHED, Status.FAILED, Status.CANCELLED)) -> Submission | None:
    submission = Submission.objects.get(pk=submission_id)
    return submission if submission.status in statuses else None


def test_api_submission_is_evaluated_by_a_real_worker(workers, owner, wait):
    agora = create_benchmark("agora", 200, splits=("dev", "test"), ranking="test")
    pw3d = create_benchmark("pw3d", 70, seed=5, primary_metric="mpjpe_body", counts_toward_hand_mpe=False)
    client = api_client(owner)
    upload = npz_zip_upload({b.slug: noisy_predictions(b.gt_arrays) for b in (agora, pw3d)})
    response = client.post("/api/v1/submissions/", {"file": upload, "method_name": "my-method"}, format="multipart")
    assert response.status_code == 201, response.content
    submission = Submission.objects.get(uuid=response.json()["id"])

    done = wait(lambda: finished(submission.pk), 120, "the submission to finish")
    assert done.status == Status.FINISHED, done.error_message
    assert done.progress_done == done.progress_total == ShardResult.objects.filter(submission=done).count() == 4 + 2
    rows = {(r.benchmark.slug, r.split): r.metrics for r in done.results.select_related("benchmark")}
    assert set(rows) == {("agora", "dev"), ("agora", "test"), ("pw3d", "test")}
    for benchmark in (agora, pw3d):
        for split, means in direct_means(done, benchmark, chunk_size=CHUNK_SIZE).items():
            assert rows[(benchmark.slug, split)] == pytest.approx(means, rel=1e-6, abs=1e-6)
    assert done.mpe == pytest.approx((rows[("agora", "test")]["mpvpe_all"] + rows[("pw3d", "test")]["mpjpe_body"]) / 2)
    assert done.hand_mpe == pytest.approx(rows[("agora", "test")]["mpvpe_hand"])
    assert done.pa_hand_mpe == pytest.approx(rows[("agora", "test")]["pa_mpvpe_hand"])

    # the API reports it; once published, it is the public leaderboard's row
    status = client.get(f"/api/v1/submissions/{done.uuid}/").json()
    assert status["status"] == "finished" and status["mpe"] == pytest.approx(done.mpe)
    assert client.post(f"/api/v1/submissions/{done.uuid}/publish/").status_code == 200
    board = APIClient().get("/api/v1/leaderboard/").json()
    assert [row["mpe"] for row in board["rows"]] == [pytest.approx(done.mpe)]


def test_killed_worker_loses_nothing_and_changes_nothing(workers, owner, wait):
    benchmark = create_benchmark("ehf", 1024, splits=("a", "b"))
    interrupted = create_submission(owner, [benchmark], seed=7)
    pipeline.start_evaluation(interrupted.pk)
    # kill worker A (main process and its pool child) once it has stored a shard and is on the next one
    wait(lambda: ShardResult.objects.filter(submission=interrupted, worker__startswith="wa@").exists(), 90,
         "worker A to store a shard")
    workers["a"].kill()
    done_before_kill = ShardResult.objects.filter(submission=interrupted).count()
    try:  # ~100 s on a loaded 2-core host
        done = wait(lambda: finished(interrupted.pk), 240, "worker B to finish the evaluation")
    except AssertionError as timed_out:  # say what worker B was doing
        raise AssertionError(f"{timed_out}\nworker B's log:\n{workers['b'].text()[-4000:]}") from None
    assert done.status == Status.FINISHED, done.error_message
    num_shards = 1024 // SHARD_SIZE
    assert done_before_kill < num_shards
    assert ShardResult.objects.filter(submission=done).count() == num_shards == done.progress_total
    assert BenchmarkResult.objects.filter(submission=done).count() == 2
    assert ShardResult.objects.filter(submission=done, worker__startswith="wb@").exists()

    # the same predictions evaluated without interruption give exactly the same numbers
    uninterrupted = create_submission(owner, [benchmark], seed=7)
    pipeline.start_evaluation(uninterrupted.pk)
    clean = wait(lambda: finished(uninterrupted.pk), 120, "the uninterrupted evaluation")
    assert clean.status == Status.FINISHED
    metrics = lambda s: {r.split: r.metrics for r in s.results.all()}  # noqa: E731
    assert metrics(done) == metrics(clean)
    assert (done.mpe, done.hand_mpe, done.pa_hand_mpe) == (clean.mpe, clean.hand_mpe, clean.pa_hand_mpe)
    for split, means in direct_means(done, benchmark, chunk_size=CHUNK_SIZE).items():
        assert metrics(done)[split] == pytest.approx(means, rel=1e-6, abs=1e-6)


def test_cancel_stops_the_running_shard_and_skips_pending_ones(workers, start_worker, owner, wait):
    if workers["a"].proc.poll() is not None:  # killed by the previous test
        workers["a"] = start_worker("wa2", EVAL_SHARD_SIZE=256, EVAL_CHUNK_SIZE=8, CELERY_VISIBILITY_TIMEOUT_S=5)
    benchmark = create_benchmark("ubody", 1024)
    submission = create_submission(owner, [benchmark])
    client = api_client(owner)
    pipeline.start_evaluation(submission.pk)
    wait(lambda: finished(submission.pk, (Status.RUNNING,)), 60, "a shard to start")
    assert client.post(f"/api/v1/submissions/{submission.uuid}/cancel/").status_code == 200
    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED
    shard_ids = [s["task_id"] for s in submission.eval_plan["shards"]]
    # every shard task ends (skipped or revoked) and at most the shards already finishing were stored
    wait(lambda: all(AsyncResult(t).ready() for t in shard_ids), 60, "all shard tasks to end")
    stored = ShardResult.objects.filter(submission=submission).count()
    assert stored <= 2 < len(shard_ids)
    assert Submission.objects.get(pk=submission.pk).status == Status.CANCELLED
    assert not BenchmarkResult.objects.filter(submission=submission).exists()


def test_poisoned_shard_fails_with_a_readable_error(workers, owner, wait):
    benchmark = create_benchmark("arctic", 128)
    submission = create_submission(owner, [benchmark])
    shards = pipeline.plan_shards({benchmark.pk: 128}, SHARD_SIZE, CHUNK_SIZE)
    # validated earlier, then the stored predictions got corrupted on disk before the shards ran
    Submission.objects.filter(pk=submission.pk).update(status=Status.VALIDATING)
    (Path(settings.PRIVATE_STORAGE_ROOT) / submission.predictions_name("arctic")).write_bytes(b"PK\x03\x04 broken")
    submission.refresh_from_db()
    pipeline.queue_shards(submission, shards, from_status=Status.VALIDATING)
    failed = wait(lambda: finished(submission.pk), 60, "the poisoned submission to fail")
    assert failed.status == Status.FAILED
    assert failed.error_message.startswith("Evaluation failed on benchmark 'arctic', shard ")
    assert "FormatError" in failed.error_message
