"""Three "hosts" on one machine sharing no disk: web, worker A and worker B, each with its own private root, object
cache and keys, against a real S3 endpoint (moto in server mode, tests/s3_server.py) started on a free loopback port.

Found (issue 23): every file went through PRIVATE_STORAGE_ROOT, so a worker had to mount the web's disk and every
worker host could read every GT file. Here the web holds keys for the private bucket only, the importer writes GT,
the workers read it into their own content-addressed caches; the broker and the database are the only other links.
Large uploads go straight to the store (pre-signed PUT by the `ehps` client), checked by a worker before use.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
from pathlib import Path

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from django.core.wsgi import get_wsgi_application
from django.test import override_settings
from rest_framework.authtoken.models import Token

from ehps_client.api import ApiClient
from ehps_client.hashing import file_sha256
from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_folder, local_path, presigned_put, put_file, put_folder
from leaderboard.storage_config import private_stores
from leaderboard.submissions.direct_uploads import safe_name
from leaderboard.submissions.models import ShardResult, Status, Submission
from tests.s3_server import GT_BUCKET, PRIVATE_BUCKET, MotoS3
from workers import pipeline
from workers.synthetic import create_benchmark, noisy_predictions, write_npz

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# 128 samples in 8 shards of one chunk: enough shards for both hosts and a kill mid-evaluation, little to score.
SHARD_SIZE, CHUNK_SIZE, SAMPLES = 16, 16, 128
RECEIVED = re.compile(r"Task workers\.tasks\.evaluate_shard\[([0-9a-f-]+)\] received")


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
def podman_store():
    """The model sandboxes' podman store, private to this module (set before the workers start: they inherit it);
    None where podman is not installed (then only the container test is skipped)."""
    if not (shutil.which("podman") and shutil.which("runc")):
        yield None
        return
    from tests.runners.runner_test_support import isolated_podman_store

    with isolated_podman_store() as root:
        yield root


@pytest.fixture(scope="module")
def hosts(s3, podman_store, start_worker, tmp_path_factory):
    """Worker A and B as real Celery workers with worker keys (started side by side); the web's and importer's
    settings to switch to."""
    roots = {name: tmp_path_factory.mktemp(f"host-{name}") for name in ("web", "importer", "a", "b")}
    config = dict(EVAL_SHARD_SIZE=SHARD_SIZE, EVAL_CHUNK_SIZE=CHUNK_SIZE, EVAL_WORKER_PROCESSES=2,
                  CELERY_VISIBILITY_TIMEOUT_S=5)
    workers = {name: start_worker(f"s{name}", ready=False, PRIVATE_STORAGE_ROOT=roots[name] / "private",
                                  OBJECT_CACHE_DIR=roots[name] / "cache", **s3.env("worker", gt=True), **config)
               for name in ("a", "b")}
    for worker in workers.values():
        worker.wait_ready()
    return {"workers": workers, "roots": roots,
            "web": host_settings(s3, "web", roots["web"], gt_keys=False),
            "importer": host_settings(s3, "importer", roots["importer"], gt_keys=True)}


def ehps_client(owner) -> ApiClient:
    """The `ehps` client, talking to this process's site (the web host) in-process; the store over HTTP."""
    token = Token.objects.get_or_create(user=owner)[0].key
    return ApiClient("http://127.0.0.1", token, transport=httpx.WSGITransport(app=get_wsgi_application()))


def final(submission_id: int) -> Submission | None:
    submission = Submission.objects.get(pk=submission_id)
    return submission if submission.is_final else None


def results(submission: Submission) -> tuple:
    return ({r.split: r.metrics for r in submission.results.all()}, submission.mpe, submission.hand_mpe,
            submission.pa_hand_mpe)


def test_web_keys_are_refused_on_ground_truth_and_nothing_signs_a_url_for_it(s3, hosts):
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

    # Pre-signed URLs: only for new names under incoming/ of the private bucket, even in a process holding GT keys.
    with hosts["importer"]:
        for name in (key, "images/secret/0001.png", "uploads/0123/predictions/secret.npz", "incoming/../gt/secret/gt.npz"):
            with pytest.raises(ValueError, match="incoming/"):
                presigned_put(name, 12, 60)
    assert safe_name("../../gt/secret/gt.npz") == "gt.npz" and safe_name("../..") == "upload"
    # A PUT URL for a GT key signed with the web's keys (as a bug would) is refused by the store.
    url = s3.client("web").generate_presigned_url(
        "put_object", Params={"Bucket": GT_BUCKET, "Key": key}, ExpiresIn=60)
    assert httpx.put(url, content=b"forged").status_code == 403


def filesystem_results(hosts, benchmark, owner, upload: Path, kind: str = "predictions") -> tuple:
    """The same upload (predictions, or a model run on the same held-out images) scored on the filesystem path (the
    default backend) in this process."""
    from workers.celery_app import app

    reference = Submission.objects.create(owner=owner, method_name="filesystem", kind=kind)
    reference.benchmarks.set([benchmark])
    with hosts["importer"]:
        gt_copy = local_path(GROUND_TRUTH, benchmark.gt_path)
        images = local_folder(GROUND_TRUTH, benchmark.images_path) if benchmark.images_path else None
    put_file(GROUND_TRUTH, benchmark.gt_path, gt_copy)
    if images is not None:
        put_folder(GROUND_TRUTH, benchmark.images_path, images)
    if kind == "predictions":
        put_file(PRIVATE, reference.predictions_name(benchmark.slug), upload)
    else:
        reference.upload.name = f"uploads/{reference.uuid}/{upload.name}"
        put_file(PRIVATE, reference.upload.name, upload)
        reference.save(update_fields=["upload"])
    app.conf.task_always_eager = True
    try:
        with override_settings(EVAL_CHUNK_SIZE=CHUNK_SIZE, EVAL_SHARD_SIZE=SHARD_SIZE, EVAL_WORKER_PROCESSES=2):
            pipeline.start_evaluation(reference.pk)
    finally:
        app.conf.task_always_eager = False
    reference.refresh_from_db()
    assert reference.status == Status.FINISHED, reference.error_message
    return results(reference)


def kill_holding_a_shard(worker, submission_id: int, wait) -> set[tuple[int, int]]:
    """SIGKILL ``worker`` while it holds a shard of the submission that it has not stored; returns those shards.

    The worker is frozen (SIGSTOP) the moment its log shows a shard received, so what it holds cannot change while
    the rows are read; if it had already stored that shard it is let go (SIGCONT) until the next one.
    """
    def holding() -> set[tuple[int, int]]:
        plan = {s["task_id"]: (s["benchmark"], s["index"])
                for s in Submission.objects.get(pk=submission_id).eval_plan.get("shards", [])}
        received = {plan[t] for t in RECEIVED.findall(worker.text()) if t in plan}
        if not received:
            return set()
        os.killpg(worker.proc.pid, signal.SIGSTOP)
        stored = set(ShardResult.objects.filter(submission_id=submission_id, worker__startswith=f"{worker.name}@")
                     .values_list("benchmark_id", "shard_index"))
        if received - stored:
            worker.kill()
            return received - stored
        os.killpg(worker.proc.pid, signal.SIGCONT)
        return set()

    return wait(holding, 90, f"worker {worker.name} to hold a shard it has not stored", interval=0.01)


@pytest.mark.container
def test_a_container_submission_on_the_object_store_scores_like_the_filesystem_path(
        s3, hosts, podman_store, django_user_model, wait, tmp_path, smplx_model_dir):
    """A model image goes to the store by pre-signed PUT; a worker host runs it on held-out images read from the GT
    bucket into its cache, and its predictions score as the same model run on the filesystem path."""
    if podman_store is None:
        pytest.skip("podman/runc not installed (scripts/system-packages installs them as root)")
    from evaluator.image_benchmark import make_image_benchmark
    from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth
    from tests.runners.model_scripts import model_script
    from tests.runners.oci_images import ImageFactory

    owner = django_user_model.objects.create_user("model-owner", password="pw-model-123")
    rendered = make_image_benchmark(tmp_path / "images", smplx_model_dir, num_samples=4, seed=21, image_size=(64, 48),
                                    slug="remote-images")
    with hosts["importer"]:
        benchmark = import_ground_truth(rendered.gt_path, BenchmarkSpec(slug="remote-images", name="Remote images"),
                                        images_dir=rendered.input_dir)
    artifact = ImageFactory(tmp_path / "oci").docker_archive("s3-model", model_script())
    with hosts["web"], ehps_client(owner) as client:
        submission_id = client.submit(artifact, ["remote-images"], "tiny container", kind="container",
                                      direct_min_bytes=1)["id"]
    done = wait(lambda: final(Submission.objects.get(uuid=submission_id).pk), 120, "the container submission")
    assert done.status == Status.FINISHED, (done.error_message, done.log)
    assert done.worker.split("@")[0] in ("sa", "sb") and done.upload.name.endswith("/model-image.tar")
    assert s3.downloads(GT_BUCKET, "images/remote-images/") >= 1  # held-out images came from the GT bucket
    assert results(done) == filesystem_results(hosts, benchmark, owner, artifact, kind="container")


def test_two_worker_hosts_score_bit_identically_download_gt_once_and_survive_a_kill(
        s3, hosts, django_user_model, wait, tmp_path):
    owner = django_user_model.objects.create_user("remote-owner", password="pw-remote-123")
    with hosts["importer"]:
        benchmark = create_benchmark("remote", SAMPLES, splits=("dev", "test"), seed=3)
    pred_file = write_npz(tmp_path / "remote.npz", noisy_predictions(benchmark.gt_arrays, seed=11))

    with hosts["web"], ehps_client(owner) as client:  # a small file: the usual multipart upload through the web
        first_id = client.submit(pred_file, ["remote"], "m")["id"]
    assert not (hosts["roots"]["web"] / "private" / "uploads").exists()  # nothing kept on the web's disk
    first = wait(lambda: final(Submission.objects.get(uuid=first_id).pk), 120, "the S3 submission to finish")
    assert first.status == Status.FINISHED, first.error_message
    scored_by = {w.split("@")[0] for w in ShardResult.objects.filter(submission=first).values_list("worker", flat=True)}
    assert scored_by == {"sa", "sb"}  # both hosts scored shards, so both hold the GT in their caches now
    assert results(first) == filesystem_results(hosts, benchmark, owner, pred_file)

    # The same file again, straight to the store (pre-signed PUT), checked by a worker; no GT download, and worker
    # A's host dies holding a shard, which B then scores.
    gt_downloads = s3.downloads(GT_BUCKET, "gt/")
    with hosts["web"], ehps_client(owner) as client:
        second_id = client.submit(pred_file, ["remote"], "m", direct_min_bytes=1)["id"]
    second = Submission.objects.get(uuid=second_id)
    assert second.upload.name.startswith("incoming/") and second.upload_sha256 == file_sha256(pred_file)
    assert any(m == "PUT" and p.startswith(f"/{PRIVATE_BUCKET}/incoming/") and "X-Amz-Signature=" in p and s == 200
               for m, p, s in s3.requests())  # the bytes went to the store, signed by the URL, not through the web
    held = kill_holding_a_shard(hosts["workers"]["a"], second.pk, wait)
    done = wait(lambda: final(second.pk), 120, "worker B to finish the evaluation")
    assert done.status == Status.FINISHED, done.error_message
    rows = {(r.benchmark_id, r.shard_index): r.worker for r in ShardResult.objects.filter(submission=done)}
    assert len(rows) == done.progress_total and all(rows[shard].startswith("sb@") for shard in held)
    assert done.upload.name == f"uploads/{done.uuid}/predictions/remote.npz"  # checked, then kept like any upload
    assert s3.downloads(GT_BUCKET, "gt/") == gt_downloads, "the second submission downloaded ground truth"
    # Predictions are content-addressed too: the first upload was fetched, the same bytes again were not (the
    # worker's check read the incoming object once, as a stream).
    assert s3.downloads(PRIVATE_BUCKET, f"uploads/{first.uuid}/predictions/") >= 1
    assert s3.downloads(PRIVATE_BUCKET, f"uploads/{done.uuid}/predictions/") == 0
    assert results(done) == results(first)  # same predictions, same bits, whatever host scored which shard

    # A direct upload whose bytes are not the ones announced is refused by the worker, and the object removed.
    with hosts["web"]:
        client = ehps_client(owner)
        offer = client.json("POST", "submissions/direct-upload/", "ask", json={
            "filename": "remote.npz", "size": pred_file.stat().st_size, "sha256": "0" * 64, "benchmark": ["remote"]})
        assert httpx.put(offer["url"], content=pred_file.read_bytes(), headers=offer["headers"]).status_code == 200
        forged_id = client.json("POST", "submissions/direct-upload/complete/", "complete",
                                json={"upload_id": offer["upload_id"], "method_name": "forged"})["id"]
    forged = wait(lambda: final(Submission.objects.get(uuid=forged_id).pk), 60, "the forged upload to be refused")
    assert forged.status == Status.FAILED and "SHA-256" in forged.error_message and "0" * 64 in forged.error_message
    assert not ShardResult.objects.filter(submission=forged).exists()
    with pytest.raises(ClientError):
        s3.client("importer").head_object(Bucket=PRIVATE_BUCKET, Key=forged.upload.name)
