"""Issue 12, Medium 10: a models-only benchmark refuses a predictions file, before matching (whose errors would
list its held-out sample ids); models are still accepted."""
from __future__ import annotations

import io

import numpy as np

from leaderboard.submissions.models import Submission
from tests.api.test_model_uploads import model_bench, post  # noqa: F401  (fixture)
from tests.archives import zip_bytes


def npz_bytes(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def models_only(benchmark):
    benchmark.accepts_predictions = False
    benchmark.save()
    return benchmark


def test_predictions_for_a_models_only_benchmark_are_refused(model_bench, bench, client_for, alice, stored_uploads):  # noqa: F811
    models_only(model_bench)
    before = stored_uploads()
    ids = bench[1]["sample_ids"]
    wrong = {**bench[1], "sample_ids": np.array([f"x{i}" for i in range(len(ids))])}  # would list the real ids
    for data, name in ((npz_bytes(bench[1]), "pred.npz"), (npz_bytes(wrong), "pred.npz"),
                       (zip_bytes({"bench-a.npz": npz_bytes(bench[1])}), "all.zip")):
        response = post(client_for(alice), data, "predictions", name)
        assert response.status_code == 400, response.content[:300]
        detail = response.json()["detail"]
        assert "accept models only" in detail
        assert not any(str(i) in detail for i in ids)
    assert not Submission.objects.exists() and stored_uploads() == before
    response = client_for(alice).get(f"/api/v1/benchmarks/{model_bench.slug}/")
    assert response.json()["accepts_predictions"] is False and response.json()["accepts_models"] is True


def test_models_are_still_accepted(model_bench, client_for, alice, started):  # noqa: F811
    models_only(model_bench)
    response = post(client_for(alice), zip_bytes({"manifest.json": b"{}", "model.pt": b"x"}), "model_archive", "model.zip")
    assert response.status_code == 201, response.content[:300]


def test_the_demo_image_benchmarks_are_models_only(db, tmp_path, settings):
    from leaderboard.benchmarks.demo import MODEL_BENCHMARKS, MULTIPERSON_BENCHMARK, REFERENCE_METHOD, create_demo_benchmarks
    from leaderboard.submissions.models import BaselineSource, Submission

    benchmarks = {b.slug: b for b in create_demo_benchmarks(tmp_path / "predictions")}
    models_only = {d.spec.slug for d in MODEL_BENCHMARKS}
    assert all(b.accepts_predictions is (slug not in models_only) for slug, b in benchmarks.items())
    multi = benchmarks[MULTIPERSON_BENCHMARK.spec.slug]
    assert multi.protocol == "agora-multiperson" and multi.primary_metric == "fb_nmve" and not multi.counts_toward_mpe
    (row,) = Submission.objects.filter(benchmarks=multi)  # the demo reference model's computed row, public
    assert (row.method_name, row.baseline_source, row.is_public) == (REFERENCE_METHOD, BaselineSource.COMPUTED, True)
