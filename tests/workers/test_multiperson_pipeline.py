"""A multi-person benchmark through the worker pipeline: shards cut by image, exact sums, the protocol's figures."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest

from evaluator.body_model import load_body_model
from evaluator.metric_sums import MetricSums
from leaderboard.benchmarks.testing import make_multiperson_benchmark, write_npz
from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path, put_file
from leaderboard.submissions.models import BenchmarkResult, ShardResult, Status, Submission
from workers import pipeline, tasks  # noqa: F401  (tasks: registered for eager runs)

pytestmark = pytest.mark.django_db(transaction=True)


def submit(user, benchmark, arrays) -> Submission:
    submission = Submission.objects.create(owner=user, method_name="m")
    submission.benchmarks.set([benchmark])
    with tempfile.TemporaryDirectory() as tmp:
        put_file(PRIVATE, submission.predictions_name(benchmark.slug), write_npz(Path(tmp) / "p.npz", arrays))
    pipeline.start_evaluation(submission.pk)
    return Submission.objects.get(pk=submission.pk)


def test_results_are_bit_identical_for_1_3_and_7_shards(eager, settings, user):
    settings.EVAL_CHUNK_SIZE, settings.EVAL_SHARDS_PER_PROCESS = 3, 0
    benchmark, gt, pred = make_multiperson_benchmark("multi", images=20, seed=5, splits=("val", "test"))
    results, shards = [], []
    for shard_size in (21, 9, 3):  # 20 images: 1, 3 and 7 shards of whole images
        settings.EVAL_SHARD_SIZE = shard_size
        submission = submit(user, benchmark, pred)
        assert submission.status == Status.FINISHED, submission.error_message
        rows = ShardResult.objects.filter(submission=submission).order_by("shard_index")
        shards.append([(r.sample_start, r.sample_stop) for r in rows])
        results.append({r.split: r.metrics for r in BenchmarkResult.objects.filter(submission=submission)})
    assert [len(s) for s in shards] == [1, 3, 7] and shards[2][-1] == (18, 20)
    assert results[0] == results[1] == results[2]
    assert set(results[0]) == {"val", "test"} and submission.mpe is None  # outside MPE

    # the same figures as the protocol called on the whole benchmark in this process
    protocol = benchmark.get_protocol()
    g = protocol.load_gt(local_path(GROUND_TRUTH, benchmark.gt_path))
    p = protocol.load_predictions(local_path(PRIVATE, submission.predictions_name(benchmark.slug)), g)
    sums = protocol.score(load_body_model(settings.SMPLX_MODEL_DIR), g, p, chunk_size=3)
    test = results[0]["test"]
    assert test == protocol.summarize(sums["test"])
    assert test["images"] == 10 and test["true_positives"] + test["misses"] == int(
        (gt["valid"] & (gt["splits"] == "test")).sum())
    assert 0 < test["fb_nmve_raw"] and test["f1"] <= 1
    result = BenchmarkResult.objects.get(submission=submission, split="test")
    assert result.primary_value == test["fb_nmve"] and result.num_samples == 10
    assert isinstance(MetricSums.from_dict(rows[0].sums["test"]).sums["gt"], float)
