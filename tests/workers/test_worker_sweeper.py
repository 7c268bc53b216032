"""The stuck-submission sweeper, the Celery configuration and the per-process torch set-up."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.utils import timezone

from leaderboard.submissions.models import ShardResult, Status, Submission
from workers import pipeline
from workers.celery_app import EVALUATE_QUEUE, FINALIZE_QUEUE, VALIDATE_QUEUE, app
from workers.tasks import evaluate_shard, sweep_stuck_submissions
from workers.torch_setup import torch_threads

pytestmark = pytest.mark.django_db(transaction=True)


def stall(submission, status: str, *, seconds: int = 3600, **fields) -> None:
    """Pretend the submission's worker vanished ``seconds`` ago while it was in ``status``."""
    Submission.objects.filter(pk=submission.pk).update(
        status=status, heartbeat_at=timezone.now() - timedelta(seconds=seconds), **fields
    )
    submission.refresh_from_db()


def planned(submission, shard_size: int) -> list[pipeline.Shard]:
    sizes = {b.pk: b.num_samples for b in submission.benchmarks.all()}
    shards = pipeline.plan_shards(sizes, shard_size)
    plan = {"shards": [dict(s.__dict__, task_id=f"lost-{s.index}") for s in shards], "finalize_task_id": "lost"}
    Submission.objects.filter(pk=submission.pk).update(eval_plan=plan, progress_total=len(shards))
    return shards


def test_stuck_running_submission_gets_only_its_missing_shards_requeued(eager, make_benchmark, make_submission):
    benchmark = make_benchmark("agora", 32)
    submission = make_submission([benchmark])
    shards = planned(submission, 8)
    stall(submission, Status.QUEUED, attempts=1)
    for shard in (shards[0], shards[2]):  # two shards finished before the worker died
        evaluate_shard.apply(args=(submission.pk, benchmark.pk, shard.index, shard.start, shard.stop)).get()
    before = dict(ShardResult.objects.values_list("shard_index", "completed_at"))
    stall(submission, Status.RUNNING, worker="w1@host")

    assert sweep_stuck_submissions.apply().get()["requeued"] == 1

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.error_message
    assert submission.attempts == 2
    after = dict(ShardResult.objects.values_list("shard_index", "completed_at"))
    assert sorted(after) == [0, 1, 2, 3]
    assert {i: after[i] for i in (0, 2)} == before  # done shards were not recomputed
    assert {s["task_id"] for s in submission.eval_plan["shards"]}.isdisjoint({"lost-1", "lost-3"})


def test_stuck_validation_is_sent_again(eager, make_benchmark, make_submission):
    submission = make_submission([make_benchmark("agora", 8)])
    stall(submission, Status.VALIDATING, attempts=1)
    assert sweep_stuck_submissions.apply().get()["revalidate"] == 1
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED and submission.attempts == 2


def test_submission_fails_with_a_reason_after_max_attempts(settings, make_benchmark, make_submission):
    settings.EVAL_MAX_ATTEMPTS = 3
    submission = make_submission([make_benchmark("agora", 16)])
    planned(submission, 8)
    stall(submission, Status.RUNNING, attempts=3, worker="gpu@node7")
    assert sweep_stuck_submissions.apply().get()["failed"] == 1
    submission.refresh_from_db()
    assert submission.status == Status.FAILED
    assert submission.error_message.startswith("Evaluation stalled 3 times; last seen on worker gpu@node7.")


def test_requeue_without_a_worker_leaves_the_row_queued_with_a_fresh_plan(settings, monkeypatch, make_benchmark,
                                                                          make_submission):
    """Record what would go to the broker: the row is re-queued, counted, and only missing shards are sent."""
    settings.EVAL_MAX_ATTEMPTS = 3
    submission = make_submission([make_benchmark("agora", 16)])
    planned(submission, 8)
    stall(submission, Status.RUNNING, attempts=1)
    sent = []
    monkeypatch.setattr(pipeline, "_send_chord", lambda sid, shards, fin: sent.append((sid, [s.index for s in shards])))
    assert pipeline.redispatch(submission.pk) == "requeued"
    submission.refresh_from_db()
    assert submission.status == Status.QUEUED and submission.attempts == 2
    assert sent == [(submission.pk, [0, 1])]
    assert timezone.now() - submission.heartbeat_at < timedelta(seconds=60)


def test_lost_chord_is_finalized_by_the_sweeper(settings, eager, make_benchmark, make_submission):
    settings.EVAL_FINALIZE_GRACE_S = 60
    benchmark = make_benchmark("agora", 16)
    submission = make_submission([benchmark])
    shards = planned(submission, 8)
    stall(submission, Status.QUEUED, attempts=1)
    for shard in shards:
        evaluate_shard.apply(args=(submission.pk, benchmark.pk, shard.index, shard.start, shard.stop)).get()
    stall(submission, Status.RUNNING, seconds=61)
    report = sweep_stuck_submissions.apply().get()
    assert report["finalized"] == 1 and report["requeued"] == 0
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED and submission.attempts == 1


def test_fresh_and_final_submissions_are_left_alone(settings, make_benchmark, make_submission):
    settings.EVAL_STUCK_AFTER_S = 600
    benchmark = make_benchmark("agora", 8)
    fresh, done = make_submission([benchmark]), make_submission([benchmark])
    planned(fresh, 8)
    stall(fresh, Status.RUNNING, seconds=30)
    stall(done, Status.FINISHED)
    assert not any(sweep_stuck_submissions.apply().get().values())
    assert Submission.objects.get(pk=fresh.pk).status == Status.RUNNING
    assert Submission.objects.get(pk=done.pk).status == Status.FINISHED


def test_celery_configuration_is_crash_safe(settings):
    conf = app.conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    routes = conf.task_routes
    assert routes["workers.tasks.validate_submission"]["queue"] == VALIDATE_QUEUE
    assert routes["workers.tasks.evaluate_shard"]["queue"] == EVALUATE_QUEUE
    assert routes["workers.tasks.finalize_submission"]["queue"] == FINALIZE_QUEUE
    assert routes["celery.chord_unlock"]["queue"] == FINALIZE_QUEUE
    beat = conf.beat_schedule["sweep-stuck-submissions"]
    assert beat["task"] == "workers.tasks.sweep_stuck_submissions" and beat["schedule"] == settings.EVAL_SWEEP_INTERVAL_S
    shard_task = app.tasks["workers.tasks.evaluate_shard"]
    assert shard_task.soft_time_limit < shard_task.time_limit < settings.CELERY_VISIBILITY_TIMEOUT_S
    assert app.tasks["workers.tasks.validate_submission"].time_limit < settings.CELERY_VISIBILITY_TIMEOUT_S
    assert shard_task.max_retries == settings.EVAL_TASK_MAX_RETRIES and shard_task.retry_backoff


@pytest.mark.parametrize(("configured", "expected"), [(0, 1), (1, 1), (3, 3)])
def test_torch_uses_one_thread_per_pool_process_unless_configured(configured, expected):
    """Processes, not threads, scale a worker: one descheduled torch thread stalls its whole process."""
    assert torch_threads(configured) == expected


@pytest.mark.parametrize(
    ("total", "processes", "per_process", "expected"),
    [(10_000, 2, 4, 1250), (10_000, 0, 4, 2048), (1_000, 2, 4, 125), (100, 8, 4, 64), (100_000, 2, 4, 2048),
     (10_000, 2, 0, 2048)],
)
def test_shard_size_is_planned_for_the_processes_available(total, processes, per_process, expected):
    assert pipeline.shard_size_for(total, processes, 2048, 64, per_process) == expected
    shards = pipeline.plan_shards({1: total}, expected, 64)
    assert sum(s.stop - s.start for s in shards) == total
    if processes and per_process and expected < 2048:
        assert len(shards) >= processes * min(per_process, total // (64 * processes))  # every process kept busy


def test_evaluate_processes_from_settings_or_unknown_when_eager(eager, settings):
    from workers.capacity import evaluate_processes, forget

    forget()
    settings.EVAL_WORKER_PROCESSES = 6
    assert evaluate_processes() == 6
    settings.EVAL_WORKER_PROCESSES = 0
    assert evaluate_processes() == 0  # eager: no workers to ask, so EVAL_SHARD_SIZE applies


class _FakeInspect:
    """Celery's inspect API as two workers would answer it; both calls must be in flight together."""

    def __init__(self, calls: list[str], barrier: threading.Barrier):
        self.calls, self.barrier = calls, barrier

    def stats(self):
        self.calls.append("stats")
        self.barrier.wait()  # raises BrokenBarrierError if active_queues is not sent meanwhile
        return {"w1": {"pool": {"max-concurrency": 2}}, "w2": {"pool": {"max-concurrency": 4}}}

    def active_queues(self):
        self.calls.append("active_queues")
        self.barrier.wait()
        return {"w1": [{"name": "evaluate"}], "w2": [{"name": "validate"}]}


def test_worker_count_is_asked_with_both_broadcasts_at_once_and_shared(settings):
    """One broadcast pair per TTL for every process (Django's cache), the two requests sent concurrently so the
    answer costs one reply timeout, not two."""
    from types import SimpleNamespace

    from workers import capacity

    settings.EVAL_WORKER_PROCESSES = 0
    capacity.forget()
    calls: list[str] = []
    barrier = threading.Barrier(2, timeout=10)
    app = SimpleNamespace(conf=SimpleNamespace(task_always_eager=False),
                          control=SimpleNamespace(inspect=lambda timeout: _FakeInspect(calls, barrier)))
    assert capacity.evaluate_processes(app) == 2  # only w1 consumes "evaluate"
    assert sorted(calls) == ["active_queues", "stats"]
    with capacity._lock:  # another pool process: nothing remembered locally, the shared answer is used
        capacity._cached.clear()
    refusing = SimpleNamespace(conf=app.conf, control=SimpleNamespace(inspect=lambda timeout: pytest.fail("asked")))
    assert capacity.evaluate_processes(refusing) == 2
    capacity.forget()
