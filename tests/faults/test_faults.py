"""Faults with real processes: the broker restarted mid-run, database connections dropped, a worker killed.

Each test runs real ``celery worker`` processes against a private redis-server and the PostgreSQL test
database (tests/fixtures_live.py); the beat-scheduled sweeper runs with short timeouts so lost work is
found in seconds. The promise under test: every submission ends FINISHED, or FAILED with a reason — none stuck.
"""
from __future__ import annotations

import time

import pytest
from django.db import connection

from leaderboard.submissions.models import FINAL_STATUSES, BenchmarkResult, ShardResult, Status, Submission
from tests.fixtures_live import LiveStack, wait_until
from workers import pipeline
from workers.synthetic import create_benchmark, create_submission

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

# Shards of 256 samples take 0.5-2 s each on one CPU thread (more when the machine is busy): long enough
# to hit them mid-flight, short enough to keep each test under a minute.
SHARDED = {"EVAL_SHARD_SIZE": "256", "EVAL_CHUNK_SIZE": "128"}
# The sweeper every second; no heartbeat for 6 s = stuck; a lost chord is finalized after 2 s.
FAST_SWEEPER = {"EVAL_SWEEP_INTERVAL_S": "1", "EVAL_STUCK_AFTER_S": "6", "EVAL_FINALIZE_GRACE_S": "2", "EVAL_MAX_ATTEMPTS": "6"}


def submit(user, benchmark, count: int) -> list[Submission]:
    submissions = [create_submission(user, [benchmark], seed=i + 1, method_name=f"m{i}") for i in range(count)]
    for submission in submissions:
        pipeline.start_evaluation(submission.pk)
    return submissions


def statuses(submissions) -> dict[int, str]:
    return dict(Submission.objects.filter(pk__in=[s.pk for s in submissions]).values_list("pk", "status"))


def wait_all_final(stack: LiveStack, submissions, timeout: float) -> list[Submission]:
    try:
        wait_until(lambda: set(statuses(submissions).values()) <= FINAL_STATUSES, timeout, 0.5, "every submission to be final")
    except TimeoutError:
        pytest.fail(f"not final: {statuses(submissions)}\n{stack.worker_logs()}")
    return list(Submission.objects.filter(pk__in=[s.pk for s in submissions]).order_by("pk"))


def assert_results_complete(submission: Submission) -> None:
    """A finished submission has every planned shard once and one result per benchmark split."""
    planned = {(s.benchmark, s.index) for s in pipeline.planned_shards(submission)}
    stored = list(ShardResult.objects.filter(submission=submission).values_list("benchmark_id", "shard_index"))
    assert sorted(stored) == sorted(planned)
    assert BenchmarkResult.objects.filter(submission=submission).count() == 1
    assert submission.mpe is not None


@pytest.fixture
def owner(django_user_model):
    return django_user_model.objects.create_user("faulty", password="pw-faulty-123")


def test_broker_restart_mid_run_ends_every_submission_finished_or_failed_with_reason(live_stack, owner):
    live_stack.env_overrides.update(SHARDED, **FAST_SWEEPER)
    benchmark = create_benchmark("agora", 768)
    live_stack.start_sweeper()
    live_stack.start_worker("w1")
    submissions = submit(owner, benchmark, 3)
    wait_until(lambda: Status.RUNNING in statuses(submissions).values(), 60, 0.1, "a running submission")

    live_stack.redis.stop()  # every queued message, chord counter and result is lost (no persistence)
    time.sleep(2)
    live_stack.redis.start()

    for submission in wait_all_final(live_stack, submissions, 150):
        if submission.status == Status.FINISHED:
            assert_results_complete(submission)
        else:
            assert submission.status == Status.FAILED and submission.error_message, submission
    # The run lost messages, yet the sweeper recovered all of it: nothing should have needed to fail.
    assert [s.status for s in Submission.objects.filter(pk__in=[s.pk for s in submissions])] == [Status.FINISHED] * 3


def _terminate_worker_connections() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return cursor.fetchone()[0]


def test_dropped_database_connections_are_retried_and_the_submission_finishes(live_stack, owner):
    live_stack.env_overrides.update(SHARDED)
    benchmark = create_benchmark("agora", 2048)
    live_stack.start_worker("w1")
    (submission,) = submit(owner, benchmark, 1)
    wait_until(lambda: statuses([submission])[submission.pk] == Status.RUNNING, 60, 0.05, "the evaluation to run")

    terminated = 0
    for _ in range(3):  # mid-shard: the next heartbeat or result write of the running task loses its connection
        time.sleep(0.7)
        terminated += _terminate_worker_connections()
    assert terminated, "the worker held no database connection while evaluating"

    (submission,) = wait_all_final(live_stack, [submission], 120)
    assert submission.status == Status.FINISHED, submission.error_message
    assert_results_complete(submission)
    log = (live_stack.logdir / "worker-w1.log").read_text()
    assert "Retry in" in log, "no task was retried after its connection was terminated"


def test_killed_worker_is_replaced_by_another_that_finishes_the_evaluation(live_stack, owner):
    live_stack.env_overrides.update(SHARDED, **FAST_SWEEPER)
    benchmark = create_benchmark("agora", 3072)
    live_stack.start_worker("doomed")
    (submission,) = submit(owner, benchmark, 1)
    wait_until(
        lambda: Submission.objects.filter(pk=submission.pk, status=Status.RUNNING, worker__startswith="doomed@").exists(),
        60, 0.05, "the first worker to run shards",
    )
    live_stack.start_sweeper()
    live_stack.start_worker("rescuer")
    assert not Submission.objects.get(pk=submission.pk).is_final, "the first worker finished before it could be killed"
    live_stack.kill_worker("doomed")
    killed_at = ShardResult.objects.filter(submission=submission).count()

    (submission,) = wait_all_final(live_stack, [submission], 150)
    assert submission.status == Status.FINISHED, submission.error_message
    assert_results_complete(submission)
    by_worker = list(ShardResult.objects.filter(submission=submission).values_list("worker", flat=True))
    assert sum(w.startswith("rescuer@") for w in by_worker) >= len(by_worker) - killed_at
    assert submission.attempts >= 2  # the sweeper re-dispatched the lost shards


def test_a_backlog_longer_than_the_stuck_timeout_is_not_failed(live_stack, owner):
    """Submissions merely waiting in the queue longer than EVAL_STUCK_AFTER_S are not re-sent or failed.

    (Found by this test: the sweeper used to fail them with "Evaluation stalled N times"; fixed in f0f082b.)
    """
    live_stack.env_overrides.update(SHARDED, **{**FAST_SWEEPER, "EVAL_STUCK_AFTER_S": "3", "EVAL_MAX_ATTEMPTS": "2"})
    benchmark = create_benchmark("agora", 512)
    live_stack.start_sweeper()
    live_stack.start_worker("w1")
    submissions = submit(owner, benchmark, 6)  # 12 shards for one worker: the last ones wait well over 3 s

    final = wait_all_final(live_stack, submissions, 150)
    assert [s.status for s in final] == [Status.FINISHED] * len(final), [s.error_message for s in final]
