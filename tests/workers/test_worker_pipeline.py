"""The evaluation pipeline run in-process (eager Celery): results, scores, sharding, errors, idempotence."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings as django_settings

from leaderboard.submissions.models import BenchmarkResult, ShardResult, Status, Submission
from workers import pipeline
from workers.synthetic import direct_means, noisy_predictions, write_npz
from workers.tasks import evaluate_shard, finalize_submission

pytestmark = pytest.mark.django_db(transaction=True)


def results(submission) -> dict[tuple[str, str], dict]:
    return {(r.benchmark.slug, r.split): r.metrics for r in submission.results.select_related("benchmark")}


def run(submission) -> Submission:
    pipeline.start_evaluation(submission.pk)
    return Submission.objects.get(pk=submission.pk)


def test_finished_results_match_the_evaluator_and_scores_follow_the_flags(eager, settings, make_benchmark, make_submission):
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 24, 16
    body = make_benchmark("agora", 64, splits=("dev", "test"), ranking="test")
    joints = make_benchmark("pw3d", 40, seed=3, primary_metric="mpjpe_body", counts_toward_hand_mpe=False)
    make_benchmark("retired", 8, seed=4, is_active=False)  # inactive: not part of MPE
    submission = run(make_submission([body, joints]))

    assert submission.status == Status.FINISHED, submission.error_message
    assert submission.progress_done == submission.progress_total == 2 + 2  # shards of 32 (24 rounded to chunks)
    assert ShardResult.objects.filter(submission=submission).count() == 4
    got = results(submission)
    assert set(got) == {("agora", "dev"), ("agora", "test"), ("pw3d", "test")}
    for benchmark in (body, joints):
        for split, means in direct_means(submission, benchmark, chunk_size=16).items():
            assert got[(benchmark.slug, split)] == means
    test_row = BenchmarkResult.objects.get(submission=submission, benchmark=body, split="test")
    assert test_row.num_samples == 32 and test_row.primary_value == test_row.metrics["mpvpe_all"]
    pw3d = got[("pw3d", "test")]
    assert submission.mpe == pytest.approx((got[("agora", "test")]["mpvpe_all"] + pw3d["mpjpe_body"]) / 2)
    assert submission.hand_mpe == pytest.approx(got[("agora", "test")]["mpvpe_hand"])
    assert submission.pa_hand_mpe == pytest.approx(got[("agora", "test")]["pa_mpvpe_hand"])
    assert submission.finished_at is not None and submission.started_at is not None


def test_mpe_is_only_defined_when_every_mpe_benchmark_is_covered(eager, make_benchmark, make_submission):
    covered = make_benchmark("ehf", 16)
    make_benchmark("ubody", 16, seed=2)
    submission = run(make_submission([covered]))
    assert submission.status == Status.FINISHED
    assert submission.mpe is None and submission.hand_mpe is None
    assert submission.results.get().primary_value > 0


def test_metrics_do_not_depend_on_the_shard_size(eager, settings, make_benchmark, make_submission):
    settings.EVAL_CHUNK_SIZE = 4
    benchmark = make_benchmark("egobody", 30, splits=("a", "b", "c"))
    seen = []
    for size, num_shards in ((1, 8), (10, 3), (1000, 1)):  # shard sizes are rounded up to whole chunks
        settings.EVAL_SHARD_SIZE = size
        submission = run(make_submission([benchmark]))
        assert submission.status == Status.FINISHED
        assert submission.progress_total == num_shards
        seen.append((results(submission), submission.mpe, submission.hand_mpe))
    assert seen[0] == seen[1] == seen[2]  # bit-identical: the sums are exact whatever the sharding
    direct = direct_means(submission, benchmark, chunk_size=4)
    assert seen[0][0] == {("egobody", split): means for split, means in direct.items()}
    settings.EVAL_SCORING_THREADS = 2  # chunks side by side on two threads: the same bits
    submission = run(make_submission([benchmark]))
    assert (results(submission), submission.mpe, submission.hand_mpe) == seen[0]


def test_shard_plan_covers_every_sample_once():
    shards = pipeline.plan_shards({7: 10, 3: 21}, shard_size=5, chunk_size=4)
    assert [(s.benchmark, s.index, s.start, s.stop) for s in shards] == [
        (3, 0, 0, 8), (3, 1, 8, 16), (3, 2, 16, 21), (7, 0, 0, 8), (7, 1, 8, 10)
    ]
    with pytest.raises(ValueError):
        pipeline.plan_shards({1: 5}, shard_size=0)


def test_bad_predictions_fail_with_the_evaluator_message(eager, make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 12)
    submission = make_submission([benchmark])
    pred = noisy_predictions(benchmark.gt_arrays)
    pred = {k: v[:-2] for k, v in pred.items()}  # two GT samples without predictions
    path = Path(django_settings.PRIVATE_STORAGE_ROOT) / submission.predictions_name("agora")
    write_npz(path, pred)
    submission = run(submission)
    assert submission.status == Status.FAILED
    assert "agora" in submission.error_message and "missing predictions" in submission.error_message
    assert str(django_settings.PRIVATE_STORAGE_ROOT) not in submission.error_message
    assert not ShardResult.objects.exists() and not BenchmarkResult.objects.exists()


def test_missing_predictions_file_fails(eager, make_benchmark, make_submission):
    first, second = make_benchmark("agora", 8), make_benchmark("ehf", 8, seed=1)
    submission = make_submission([first])
    submission.benchmarks.add(second)
    submission = run(submission)
    assert submission.status == Status.FAILED
    assert submission.error_message == "No predictions were stored for benchmark 'ehf'."


def queued_with_plan(submission, shard_size: int) -> list[pipeline.Shard]:
    """Put a submission in QUEUED with a shard plan, as validation does, without sending anything."""
    benchmarks = list(submission.benchmarks.all())
    shards = pipeline.plan_shards({b.pk: b.num_samples for b in benchmarks}, shard_size)
    plan = {"shards": [dict(s.__dict__, task_id=f"t{i}") for i, s in enumerate(shards)], "finalize_task_id": "f"}
    Submission.objects.filter(pk=submission.pk).update(status=Status.QUEUED, eval_plan=plan, progress_total=len(shards))
    submission.refresh_from_db()
    return shards


def test_a_poisoned_shard_fails_the_submission_naming_benchmark_and_shard(make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 20)
    submission = make_submission([benchmark])
    shards = queued_with_plan(submission, 8)
    evaluate_shard.apply(args=(submission.pk, benchmark.pk, 0, shards[0].start, shards[0].stop))
    (Path(django_settings.PRIVATE_STORAGE_ROOT) / submission.predictions_name("agora")).write_bytes(b"\0garbage" * 50)
    from workers import evaluation

    evaluation.clear_caches()
    outcome = evaluate_shard.apply(args=(submission.pk, benchmark.pk, 1, 8, 16))
    assert outcome.failed()
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.error_message.startswith("Evaluation failed on benchmark 'agora', shard 1 (samples 8-15): ")
    assert "FormatError" in submission.error_message
    # later shards of a failed submission do nothing
    assert evaluate_shard.apply(args=(submission.pk, benchmark.pk, 2, 16, 20)).get() == {"skipped": "final"}
    assert ShardResult.objects.count() == 1


def test_shards_and_finalize_are_idempotent(make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 20)
    submission = make_submission([benchmark])
    shards = queued_with_plan(submission, 8)
    for shard in shards + shards[:2]:  # the first two run twice (re-delivery)
        evaluate_shard.apply(args=(submission.pk, benchmark.pk, shard.index, shard.start, shard.stop)).get()
    submission.refresh_from_db()
    assert submission.status == Status.RUNNING and submission.progress_done == 3
    first = list(ShardResult.objects.values_list("shard_index", "completed_at", "sums"))
    assert finalize_submission.apply(args=(submission.pk,)).get()["mpe"] is not None
    assert finalize_submission.apply(args=(submission.pk,)).get() == {"skipped": "final"}
    assert list(ShardResult.objects.values_list("shard_index", "completed_at", "sums")) == first
    assert BenchmarkResult.objects.count() == 1
    assert Submission.objects.get(pk=submission.pk).status == Status.FINISHED


def test_finalize_waits_while_a_shard_is_missing(make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 20)
    submission = make_submission([benchmark])
    shards = queued_with_plan(submission, 8)
    evaluate_shard.apply(args=(submission.pk, benchmark.pk, 0, shards[0].start, shards[0].stop)).get()
    assert finalize_submission.apply(args=(submission.pk,)).get() == {"waiting_for": 2}
    assert Submission.objects.get(pk=submission.pk).status == Status.RUNNING
    assert not BenchmarkResult.objects.exists()


def test_cancel_before_the_shards_run_leaves_nothing(eager, make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 20)
    submission = make_submission([benchmark])
    shards = queued_with_plan(submission, 8)
    pipeline.cancel_evaluation(submission.pk)
    pipeline._send_chord(submission.pk, shards, "f")  # the messages still arrive: they must do nothing
    submission.refresh_from_db()
    assert submission.status == Status.CANCELLED and submission.is_final
    assert not ShardResult.objects.exists() and not BenchmarkResult.objects.exists()
    pipeline.start_evaluation(submission.pk)  # a final state is final
    assert Submission.objects.get(pk=submission.pk).status == Status.CANCELLED
