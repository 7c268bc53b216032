"""The demo's computed row on its multi-person benchmark: detector + mean body run on the held-out whole images,
stored like a model run's predictions and scored by the workers with the agora-multiperson protocol."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from django.conf import settings

from evaluator.multiperson_images import make_multiperson_image_benchmark
from leaderboard.benchmarks.demo import MULTIPERSON_BENCHMARK, REFERENCE_METHOD, submit_demo_reference
from leaderboard.benchmarks.services import import_ground_truth
from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission


@pytest.mark.django_db(transaction=True)  # the pipeline starts on commit, as in production
def test_the_reference_row_is_scored_by_the_workers(eager, tmp_path):
    images = make_multiperson_image_benchmark(tmp_path / "mp", settings.SMPLX_MODEL_DIR, 4, seed=16)
    benchmark = import_ground_truth(images.gt_path, replace(MULTIPERSON_BENCHMARK.spec, slug="mp-demo"),
                                    images_dir=images.input_dir)
    submit_demo_reference(benchmark, images.input_dir)
    submit_demo_reference(benchmark, images.input_dir)  # again (a refresh): the earlier row goes

    submission = Submission.objects.get()
    assert submission.status == Status.FINISHED, submission.error_message
    assert (submission.method_name, submission.baseline_source, submission.is_public) == (
        REFERENCE_METHOD, BaselineSource.COMPUTED, True)
    assert submission.mpe is None  # multi-person results never enter MPE
    result = BenchmarkResult.objects.get(submission=submission)
    figures = result.metrics
    assert result.primary_value == figures["fb_nmve"] and result.num_samples == 4  # images
    assert 0 < figures["f1"] <= 1 and figures["true_positives"] > 0

    # the stored file is what the protocol reads, and the workers' figures are the protocol's own
    protocol = benchmark.get_protocol()
    gt = protocol.load_gt(local_path(GROUND_TRUTH, benchmark.gt_path))
    pred = protocol.load_predictions(local_path(PRIVATE, submission.predictions_name(benchmark.slug)), gt)
    assert len(np.unique(pred.image_ids)) <= 4 and len(pred) > 0
    from evaluator.body_model import load_body_model

    direct = protocol.summarize(protocol.score(load_body_model(settings.SMPLX_MODEL_DIR), gt, pred)["test"])
    assert figures["f1"] == direct["f1"] and figures["fb_nmve"] == direct["fb_nmve"]
