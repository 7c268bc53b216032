"""Workers score each benchmark with its own protocol, stamp what computed the numbers, and keep per-sample values."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings

from evaluator.body_model import load_body_model
from evaluator.formats import load_sample_set
from evaluator.protocols import EVALUATOR_VERSION, get_protocol
from leaderboard.submissions.models import BenchmarkResult, ShardResult, Status, Submission
from leaderboard.submissions.per_sample import shard_name
from leaderboard.submissions.scores import submission_coverage
from workers import pipeline

pytestmark = pytest.mark.django_db(transaction=True)


def run(submission) -> Submission:
    pipeline.start_evaluation(submission.pk)
    return Submission.objects.get(pk=submission.pk)


def direct_per_sample(submission, benchmark) -> dict[str, np.ndarray]:
    """Reference: the benchmark's protocol called directly on the whole benchmark, in this process."""
    root = Path(django_settings.PRIVATE_STORAGE_ROOT)
    protocol = benchmark.get_protocol()
    gt = protocol.load_gt(root / benchmark.gt_path)
    pred = load_sample_set(root / submission.predictions_name(benchmark.slug), role="pred")
    return protocol.per_sample(load_body_model(django_settings.SMPLX_MODEL_DIR, "cpu"), gt, pred, chunk_size=8)


def test_results_are_stamped_and_follow_the_benchmark_protocol_options(eager, settings, make_benchmark, make_submission):
    """A SMPLest-X-variant benchmark gets that protocol's extra metrics; the generic one does not."""
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 16, 8
    generic = make_benchmark("generic", 24, splits=("dev", "test"), ranking="test")
    smplest = make_benchmark("smplest", 20, seed=2, protocol_options={"variant": "smplest-x"})
    submission = run(make_submission([generic, smplest]))
    assert submission.status == Status.FINISHED, submission.error_message

    for benchmark in (generic, smplest):
        protocol = get_protocol(benchmark.protocol, benchmark.protocol_options)
        for result in BenchmarkResult.objects.filter(submission=submission, benchmark=benchmark):
            assert (result.protocol, result.protocol_version, result.evaluator_version) == (
                protocol.name, protocol.version, EVALUATOR_VERSION)
            assert result.protocol_options == protocol.options
            assert set(result.metrics) == set(protocol.metrics)
        assert ShardResult.objects.filter(submission=submission, benchmark=benchmark).exclude(
            protocol_version=protocol.version).count() == 0
    assert "mpjpe_hand" in BenchmarkResult.objects.get(submission=submission, benchmark=smplest).metrics
    assert "mpjpe_hand" not in BenchmarkResult.objects.get(submission=submission, benchmark=generic, split="test").metrics

    coverage = submission_coverage(submission)
    assert coverage.benchmarks == ("generic", "smplest")
    assert "variant=smplest-x" in coverage.label and f"smplx-generic v{protocol.version}" in coverage.label


def test_per_sample_files_hold_every_sample_and_add_up_to_the_results(eager, settings, make_benchmark, make_submission):
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 8, 8
    benchmark = make_benchmark("ps", 20, splits=("dev", "test"), ranking="test")
    submission = run(make_submission([benchmark]))
    assert submission.status == Status.FINISHED, submission.error_message

    root = Path(django_settings.PRIVATE_STORAGE_ROOT)
    shards = list(ShardResult.objects.filter(submission=submission).order_by("shard_index"))
    assert len(shards) == 3
    parts = []
    for shard in shards:
        with np.load(root / shard_name(submission, benchmark.slug, shard.shard_index), allow_pickle=False) as data:
            parts.append({k: data[k] for k in data.files})
    stored = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    expected = direct_per_sample(submission, benchmark)
    assert list(stored["sample_id"]) == list(expected["sample_id"])
    for key in benchmark.get_protocol().metrics:
        np.testing.assert_allclose(stored[key], expected[key], rtol=0, atol=1e-9)
    for split in ("dev", "test"):
        mask = stored["split"] == split
        result = BenchmarkResult.objects.get(submission=submission, split=split)
        assert result.metrics["mpvpe_all"] == pytest.approx(stored["mpvpe_all"][mask].mean(), abs=1e-5)


def test_shards_from_different_protocol_versions_fail_the_submission(eager, settings, make_benchmark, make_submission):
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 8, 8
    benchmark = make_benchmark("mixed", 16)
    submission = make_submission([benchmark])
    ShardResult.objects.create(submission=submission, benchmark=benchmark, shard_index=1, sample_start=8,
                               sample_stop=16, sums={}, protocol="smplx-generic", protocol_version="0-old")
    submission = run(submission)
    assert submission.status == Status.FAILED
    assert "computed under" in submission.error_message and "0-old" in submission.error_message


def test_a_flag_change_committed_during_finalize_still_reaches_the_scores(eager, settings, make_benchmark, make_submission):
    """The admin's refresh skips a submission that is not finished yet; finalize re-derives after its commit."""
    import threading

    from django.db import connection

    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions import scores as scores_module
    from workers import tasks

    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 16, 8
    kept, dropped = make_benchmark("kept", 8), make_benchmark("dropped", 8, seed=2)
    original = scores_module.write_results

    def write_then_admin_changes_flags(*args, **kwargs):
        result = original(*args, **kwargs)  # the scores of the old definition, inside finalize's transaction

        def admin() -> None:  # another connection commits a flag change and refreshes finished rows
            Benchmark.objects.filter(pk=dropped.pk).update(counts_toward_mpe=False)
            scores_module.recompute_all_scores()
            connection.close()

        thread = threading.Thread(target=admin)
        thread.start()
        thread.join()
        return result

    tasks.write_results = write_then_admin_changes_flags
    try:
        submission = run(make_submission([kept, dropped]))
    finally:
        tasks.write_results = original
    assert submission.status == Status.FINISHED, submission.error_message
    kept_value = BenchmarkResult.objects.get(submission=submission, benchmark=kept).metrics["mpvpe_all"]
    assert submission.mpe == pytest.approx(kept_value)
    assert submission_coverage(submission).benchmarks == ("kept",)
