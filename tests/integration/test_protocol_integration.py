"""End to end for non-generic protocols: API upload → Redis → a real `celery worker` → 3dpw (SMPL GT) and ubody scores.

The benchmarks are the demo's synthetic 3DPW (gendered SMPL) and UBody (per-sample camera, cropped images); the
worker must score each with its own protocol, exactly as the protocol does in this process.
"""
from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from evaluator.demo import noisy_predictions
from evaluator.formats import load_sample_set
from evaluator.protocols import EVALUATOR_VERSION, load_protocol_models
from leaderboard.benchmarks.demo_data import camera_people, smpl_people
from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth
from leaderboard.submissions.models import Status, Submission
from leaderboard.submissions.scores import submission_coverage
from tests.archives import npz_zip_upload

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker("wp", EVAL_SHARD_SIZE=32, EVAL_CHUNK_SIZE=16)


def import_demo(slug: str, data, **spec):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gt.npz"
        np.savez(path, **data.gt)
        return import_ground_truth(path, BenchmarkSpec(slug, slug.upper(), **spec))


def predictions(data, seed: int) -> dict[str, np.ndarray]:
    noisy = noisy_predictions(data.people, np.random.default_rng(seed), 1.0)
    return {"sample_ids": data.gt["sample_ids"], **{k: v.astype(np.float32) for k, v in noisy.items()}}


def direct_means(benchmark, pred_arrays) -> dict[str, dict[str, float | None]]:
    """Reference: the benchmark's protocol run in this process on the whole benchmark."""
    protocol = benchmark.get_protocol()
    models = load_protocol_models(protocol, settings.SMPLX_MODEL_DIR, "cpu")
    gt = protocol.load_gt(Path(settings.PRIVATE_STORAGE_ROOT) / benchmark.gt_path)
    buffer = io.BytesIO()
    np.savez(buffer, **pred_arrays)
    buffer.seek(0)
    pred = load_sample_set(buffer, name="pred.npz", role="pred")
    return {split: sums.means() for split, sums in protocol.score(models, gt, pred, chunk_size=16).items()}


def test_3dpw_and_ubody_submissions_are_scored_by_their_protocols(worker, django_user_model, wait):
    pw3d_data, ubody_data = smpl_people(60, 13, keep_splits=True), camera_people(40, 15, keep_splits=False)
    pw3d = import_demo("pw3d", pw3d_data, protocol="3dpw", primary_metric="mpjpe_body", counts_toward_hand_mpe=False,
                       ranking_split="dev", hidden_splits=["test"])
    ubody = import_demo("ubody", ubody_data, protocol="ubody")
    assert pw3d.gt_parts == ["body"]
    owner = django_user_model.objects.create_user("carol", password="pw-carol-123")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=owner).key}")
    arrays = {"pw3d": predictions(pw3d_data, 1), "ubody": predictions(ubody_data, 2)}
    response = client.post("/api/v1/submissions/", {"file": npz_zip_upload(arrays), "method_name": "m"}, format="multipart")
    assert response.status_code == 201, response.content
    submission_id = Submission.objects.get(uuid=response.json()["id"]).pk

    done = wait(lambda: Submission.objects.filter(pk=submission_id, status__in=[Status.FINISHED, Status.FAILED]).first(),
                180, "the worker to finish")
    assert done.status == Status.FINISHED, done.error_message
    results = {(r.benchmark.slug, r.split): r for r in done.results.select_related("benchmark")}
    assert set(results) == {("pw3d", "dev"), ("pw3d", "test"), ("ubody", "test")}
    for benchmark in (pw3d, ubody):
        protocol = benchmark.get_protocol()
        for split, means in direct_means(benchmark, arrays[benchmark.slug]).items():
            result = results[(benchmark.slug, split)]
            assert set(result.metrics) == set(protocol.metrics)
            assert result.metrics == pytest.approx(means, rel=1e-6, abs=1e-6)
            assert (result.protocol, result.protocol_version, result.evaluator_version) == (
                protocol.name, protocol.version, EVALUATOR_VERSION)
    assert set(results[("pw3d", "dev")].metrics) == {"mpjpe_body", "pa_mpjpe_body"}  # no hands/face GT on 3DPW

    # MPE: 3DPW on its revealed dev split + UBody; hand MPE only from UBody (3DPW has no hand GT)
    assert done.mpe == pytest.approx((results[("pw3d", "dev")].metrics["mpjpe_body"]
                                      + results[("ubody", "test")].metrics["mpvpe_all"]) / 2)
    assert done.hand_mpe == pytest.approx(results[("ubody", "test")].metrics["mpvpe_hand"])
    versions = {b.slug: b.get_protocol().version for b in (pw3d, ubody)}
    assert submission_coverage(done).label == f"pw3d/dev (3dpw v{versions['pw3d']}); ubody/test (ubody v{versions['ubody']})"

    # the owner downloads per-sample errors of the revealed 3DPW split only
    streamed = client.get(f"/api/v1/submissions/{done.uuid}/per-sample/", {"benchmark": "pw3d"})
    rows = list(csv.DictReader(io.StringIO(b"".join(streamed.streaming_content).decode())))
    assert {r["split"] for r in rows} == {"dev"} and len(rows) == pw3d.splits.get(name="dev").num_samples
