"""Three "hosts" on one machine sharing no disk: web, worker A and worker B, each with its own private root, object
cache and keys, against a real S3 endpoint (moto in server mode, tests/s3_server.py) started on a free loopback port.

Found (issue 23): every file went through PRIVATE_STORAGE_ROOT, so a worker had to mount the web's disk and every
worker host could read every GT file. Here the web holds keys for the private bucket only, the importer writes GT,
the workers read it into their own content-addressed caches; the broker and the database are the only other links.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError
from django.test import override_settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path, put_file
from leaderboard.storage_config import private_stores
from leaderboard.submissions.models import ShardResult, Status, Submission
from tests.s3_server import GT_BUCKET, PRIVATE_BUCKET, MotoS3
from workers import pipeline
from workers.synthetic import create_benchmark, create_submission, noisy_predictions

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SHARD_SIZE, CHUNK_SIZE, SAMPLES = 32, 16, 256


@pytest.fixture(scope="module")
def s3(tmp_path_factory) -> MotoS3:
    server = MotoS3(tmp_path_factory.mktemp("moto"))
    server.start()
    yield server
    server.stop()


def host_settings(s3: MotoS3, role: str, root: Path, gt_keys: bool) -> override_settings:
    """This test process playing one host: its stores, private root (local scratch) and object cache."""
    env = s3.env(role, gt=gt_keys)
    return override_settings(STORAGES={**_base_storages(), **private_stores(env)}, PRIVATE_STORAGE_ROOT=root / "private",
                             OBJECT_CACHE_DIR=root / "cache", EVAL_CHUNK_SIZE=CHUNK_SIZE)


def _base_storages() -> dict:
    from django.conf import settings

    return {k: v for k, v in settings.STORAGES.items() if k in ("default", "staticfiles")}


@pytest.fixture(scope="module")
def hosts(s3, start_worker, tmp_path_factory):
    """Worker A and B as real Celery workers with worker keys; the web's and importer's settings to switch to."""
    roots = {name: tmp_path_factory.mktemp(f"host-{name}") for name in ("web", "importer", "a", "b")}
    config = dict(EVAL_SHARD_SIZE=SHARD_SIZE, EVAL_CHUNK_SIZE=CHUNK_SIZE, CELERY_VISIBILITY_TIMEOUT_S=5)
    workers = {name: start_worker(f"s{name}", PRIVATE_STORAGE_ROOT=roots[name] / "private",
                                  OBJECT_CACHE_DIR=roots[name] / "cache", **s3.env("worker", gt=True), **config)
               for name in ("a", "b")}
    return {"workers": workers, "roots": roots,
            "web": host_settings(s3, "web", roots["web"], gt_keys=False),
            "importer": host_settings(s3, "importer", roots["importer"], gt_keys=True)}


def submit_as_web(hosts, owner, arrays: dict[str, np.ndarray]) -> Submission:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=owner)[0].key}")
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    buffer.seek(0)
    buffer.name = "remote.npz"
    with hosts["web"]:
        response = client.post("/api/v1/submissions/", {"file": buffer, "benchmark": "remote", "method_name": "m"},
                               format="multipart")
    assert response.status_code == 201, response.content
    return Submission.objects.get(uuid=response.json()["id"])


def final(submission_id: int) -> Submission | None:
    submission = Submission.objects.get(pk=submission_id)
    return submission if submission.is_final else None


def results(submission: Submission) -> tuple:
    return ({r.split: r.metrics for r in submission.results.all()}, submission.mpe, submission.hand_mpe,
            submission.pa_hand_mpe)


def test_web_keys_are_refused_on_ground_truth(s3, hosts):
    key = "gt/secret/gt.npz"
    s3.client("importer").put_object(Bucket=GT_BUCKET, Key=key, Body=b"ground truth")
    with pytest.raises(ClientError) as refused:  # the store itself refuses the web's keys on a GT key
        s3.client("web").get_object(Bucket=GT_BUCKET, Key=key)
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError):  # workers read GT, never write it
        s3.client("worker").put_object(Bucket=GT_BUCKET, Key=key, Body=b"forged")
    with hosts["web"], pytest.raises(PermissionError, match="no credentials"):
        local_path(GROUND_TRUTH, key)  # and the web process holds no GT keys to try with
    assert s3.client("worker").get_object(Bucket=GT_BUCKET, Key=key)["Body"].read() == b"ground truth"


def filesystem_results(hosts, benchmark, owner, arrays: dict[str, np.ndarray]) -> tuple:
    """The same predictions scored on the filesystem path (the default backend) in this process."""
    from workers.celery_app import app

    reference = Submission.objects.create(owner=owner, method_name="filesystem")
    reference.benchmarks.set([benchmark])
    with hosts["importer"]:
        gt_copy = local_path(GROUND_TRUTH, benchmark.gt_path)
    scratch = hosts["roots"]["importer"] / "filesystem"
    scratch.mkdir(exist_ok=True)
    np.savez(scratch / "pred.npz", **arrays)
    put_file(GROUND_TRUTH, benchmark.gt_path, gt_copy)
    put_file(PRIVATE, reference.predictions_name(benchmark.slug), scratch / "pred.npz")
    app.conf.task_always_eager = True
    try:
        with override_settings(EVAL_CHUNK_SIZE=CHUNK_SIZE, EVAL_SHARD_SIZE=SHARD_SIZE, EVAL_WORKER_PROCESSES=2):
            pipeline.start_evaluation(reference.pk)
    finally:
        app.conf.task_always_eager = False
    reference.refresh_from_db()
    assert reference.status == Status.FINISHED, reference.error_message
    return results(reference)


def test_two_worker_hosts_score_bit_identically_download_gt_once_and_survive_a_kill(
        s3, hosts, django_user_model, wait):
    owner = django_user_model.objects.create_user("remote-owner", password="pw-remote-123")
    with hosts["importer"]:
        benchmark = create_benchmark("remote", SAMPLES, splits=("dev", "test"), seed=3)
    arrays = noisy_predictions(benchmark.gt_arrays, seed=11)

    submission = submit_as_web(hosts, owner, arrays)
    assert not (hosts["roots"]["web"] / "private" / "uploads").exists()  # nothing kept on the web's disk
    first = wait(lambda: final(submission.pk), 120, "the S3 submission to finish")
    assert first.status == Status.FINISHED, first.error_message
    scored_by = {w.split("@")[0] for w in ShardResult.objects.filter(submission=first).values_list("worker", flat=True)}
    assert scored_by == {"sa", "sb"}  # both hosts scored shards, so both hold the GT in their caches now
    assert results(first) == filesystem_results(hosts, benchmark, owner, arrays)

    # A second submission on the same benchmark: no GT download, and worker A's host dies mid-evaluation.
    gt_downloads = s3.downloads(GT_BUCKET, "gt/")
    with hosts["importer"]:
        second = create_submission(owner, [benchmark], seed=11)
    pipeline.start_evaluation(second.pk)
    wait(lambda: ShardResult.objects.filter(submission=second, worker__startswith="sa@").exists(), 90,
         "worker A to store a shard")
    hosts["workers"]["a"].kill()  # its unacknowledged shard is re-delivered to B
    stored_before_kill = ShardResult.objects.filter(submission=second).count()
    done = wait(lambda: final(second.pk), 120, "worker B to finish the evaluation")
    assert done.status == Status.FINISHED, done.error_message
    assert stored_before_kill < done.progress_total == ShardResult.objects.filter(submission=done).count()
    assert ShardResult.objects.filter(submission=done, worker__startswith="sb@").exists()
    assert s3.downloads(GT_BUCKET, "gt/") == gt_downloads, "the second submission downloaded ground truth"
    # Predictions are content-addressed too: the first upload was fetched, the same bytes again were not.
    assert s3.downloads(PRIVATE_BUCKET, f"uploads/{first.uuid}/predictions/") >= 1
    assert s3.downloads(PRIVATE_BUCKET, f"uploads/{done.uuid}/predictions/") == 0
    assert results(done) == results(first)  # same predictions, same bits, whatever host scored which shard
