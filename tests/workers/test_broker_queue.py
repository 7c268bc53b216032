"""The sweeper tells a submission waiting behind a backlog (messages still queued in Redis) from lost work."""
from __future__ import annotations

import contextlib
import json

import pytest
import redis
from celery import Celery

from leaderboard.submissions.models import Status, Submission
from workers import broker_queue
from workers.celery_app import EVALUATE_QUEUE
from workers.tasks import sweep_stuck_submissions

from tests.backlog import fill_backlog
from test_worker_sweeper import planned, stall  # plain helpers of the sibling module

OLD_CAP = 100_000  # messages per queue the scan read before 6d00eef: the oldest ones beyond it looked lost


def test_waiting_task_ids_lists_queued_messages(redis_app):
    redis_app.send_task("workers.tasks.evaluate_shard", args=(1, 1, 0, 0, 8), task_id="shard-a", queue=EVALUATE_QUEUE)
    redis_app.send_task("workers.tasks.evaluate_shard", args=(1, 1, 1, 8, 16), task_id="shard-b",
                        queue=EVALUATE_QUEUE, priority=5)
    assert broker_queue.waiting_task_ids(redis_app) == {"shard-a", "shard-b"}


def test_waiting_task_ids_is_unknown_for_brokers_it_cannot_read():
    with Celery("probe", broker="memory://", set_as_current=False) as memory_app:
        assert broker_queue.waiting_task_ids(memory_app) is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("newer", [0, OLD_CAP + 1_000], ids=["short queue", "backlog above the old cap"])
def test_sweeper_leaves_a_queued_backlog_alone_and_requeues_lost_work(
    redis_app, monkeypatch, eager, make_benchmark, make_submission, newer
):
    # The sweeper reads the broker queues of our Redis probe app; everything it re-sends runs eagerly.
    read_queues = broker_queue.waiting_task_ids
    monkeypatch.setattr(broker_queue, "waiting_task_ids", lambda _app: read_queues(redis_app))
    benchmark = make_benchmark("agora", 16)
    waiting, lost = make_submission([benchmark]), make_submission([benchmark])
    for submission in (waiting, lost):
        planned(submission, 8)  # shard task ids "lost-0", "lost-1"
        stall(submission, Status.QUEUED, attempts=1)
    # Only the first submission's shard messages are still in the broker queue: the oldest there, at its tail,
    # next to be delivered, behind ``newer`` messages sent after them.
    Submission.objects.filter(pk=waiting.pk).update(
        eval_plan={**waiting.eval_plan, "shards": [dict(s, task_id=f"queued-{i}")
                                                  for i, s in enumerate(waiting.eval_plan["shards"])]}
    )
    for i in range(2):
        redis_app.send_task("workers.tasks.evaluate_shard", task_id=f"queued-{i}", queue=EVALUATE_QUEUE,
                            args=(waiting.pk, benchmark.pk, i, 8 * i, 8 * i + 8))
    fill_backlog(redis_app, EVALUATE_QUEUE, [f"newer-{i}" for i in range(newer)])

    report = sweep_stuck_submissions.apply().get()

    assert report["waiting"] == 1 and report["requeued"] == 1
    waiting.refresh_from_db(), lost.refresh_from_db()
    assert waiting.attempts == 1 and waiting.status == Status.QUEUED  # untouched: its work is still queued
    assert lost.attempts == 2 and lost.status == Status.FINISHED  # its shards were re-sent and ran


@pytest.mark.parametrize("count", [333, 320])  # a short last page; whole pages and an empty one after them
def test_waiting_task_ids_is_exact_at_any_backlog(redis_app, monkeypatch, count):
    """No cap: the oldest messages (the tail of the list, the ones waiting longest) are seen too."""
    monkeypatch.setattr(broker_queue, "PAGE", 40)
    sent = [f"backlog-{i}" for i in range(count)]
    fill_backlog(redis_app, EVALUATE_QUEUE, sent)
    assert broker_queue.waiting_task_ids(redis_app) == set(sent)


def test_task_ids_found_without_decoding_match_full_decoding(redis_app, monkeypatch):
    ids = ["plain-id", 'with "quotes"', "ütf-8 id", "4f0c1a52-6a43-4c1e-9d2b-3f1f2f6c7a10"]
    for task_id in ids:
        redis_app.send_task("workers.tasks.evaluate_shard", args=({"id": "decoy"},), kwargs={"x": '"id": "decoy"'},
                            task_id=task_id, queue=EVALUATE_QUEUE)
    client = redis.Redis.from_url(redis_app.conf.broker_url)
    page = client.lrange(EVALUATE_QUEUE, 0, -1)
    assert set(map(broker_queue._message_task_id, page)) == set(ids)
    assert set(broker_queue._page_task_ids(page)) == set(ids)
    # Plain ids are read by the one regex match; JSON escapes (quotes, non-ASCII) take the full decoding
    decoded, found = [], []
    full, find = broker_queue._message_task_id, broker_queue._found_task_id
    monkeypatch.setattr(broker_queue, "_message_task_id", lambda m: decoded.append(full(m)) or decoded[-1])
    monkeypatch.setattr(broker_queue, "_found_task_id", lambda *a: found.append(find(*a)) or found[-1])
    assert set(broker_queue._page_task_ids(page)) == set(ids)
    assert sorted(decoded) == sorted(found) == sorted(['with "quotes"', "ütf-8 id"])


def test_messages_in_another_layout_are_read_in_full(redis_app):
    """Not Celery's header order (another producer, a later Celery): still found, by the slower paths."""
    reordered = json.dumps({"body": "", "headers": {"id": "reordered", "lang": "py", "task": "t"}, "properties": {}})
    redis.Redis.from_url(redis_app.conf.broker_url).lpush(EVALUATE_QUEUE, reordered, b"not json", b'"headers": {')
    redis_app.send_task("workers.tasks.evaluate_shard", task_id="celery", queue=EVALUATE_QUEUE)
    assert broker_queue.waiting_task_ids(redis_app) == {"reordered", "celery"}



@contextlib.contextmanager
def delivered_without_ack(app: Celery, queue: str):
    """A worker took the next message and has not acknowledged it (reserved or running, acks_late); a closed
    connection would put it back (kombu restores unacknowledged messages), so it stays open meanwhile."""
    with app.connection_for_read() as conn:
        assert conn.default_channel.basic_get(queue, no_ack=False) is not None
        yield


def test_delivered_task_ids_lists_reserved_and_running_messages(redis_app):
    for task_id in ("taken", "queued"):
        redis_app.send_task("workers.tasks.evaluate_shard", args=(1, 1, 0, 0, 8), task_id=task_id, queue=EVALUATE_QUEUE)
    with delivered_without_ack(redis_app, EVALUATE_QUEUE):  # the oldest, "taken"
        assert broker_queue.delivered_task_ids(redis_app) == {"taken"}
        assert broker_queue.waiting_task_ids(redis_app) == {"queued"}
    with Celery("probe", broker="memory://", set_as_current=False) as memory_app:
        assert broker_queue.delivered_task_ids(memory_app) is None


@pytest.mark.django_db(transaction=True)
def test_lost_work_is_resent_long_before_the_stuck_timeout_and_live_work_is_not(
    redis_app, monkeypatch, settings, eager, make_benchmark, make_submission
):
    """Issue 24: after a Redis restart that lost queued work, the sweeper waited EVAL_STUCK_AFTER_S (15 min)."""
    settings.EVAL_STUCK_AFTER_S, settings.EVAL_LOST_AFTER_S = 900, 60
    for name in ("waiting_task_ids", "delivered_task_ids"):
        read = getattr(broker_queue, name)
        monkeypatch.setattr(broker_queue, name, lambda _app, read=read: read(redis_app))
    benchmark = make_benchmark("agora", 16)
    queued, running, lost, fresh = (make_submission([benchmark]) for _ in range(4))
    for n, submission in enumerate((queued, running, lost, fresh)):
        planned(submission, 16)  # one shard
        plan = Submission.objects.get(pk=submission.pk).eval_plan
        plan["shards"][0]["task_id"] = f"s{n}"
        Submission.objects.filter(pk=submission.pk).update(eval_plan=plan)
        stall(submission, Status.QUEUED, seconds=10 if submission is fresh else 90, attempts=1)
    redis_app.send_task("workers.tasks.evaluate_shard", task_id="s1", queue=EVALUATE_QUEUE, args=(running.pk,))
    with delivered_without_ack(redis_app, EVALUATE_QUEUE):  # s1: a worker runs it
        redis_app.send_task("workers.tasks.evaluate_shard", task_id="s0", queue=EVALUATE_QUEUE, args=(queued.pk,))
        report = sweep_stuck_submissions.apply().get()

    assert (report["waiting"], report["lost"], report["requeued"]) == (1, 1, 1)
    for submission in (queued, running, lost, fresh):
        submission.refresh_from_db()
    assert lost.attempts == 2 and lost.status == Status.FINISHED  # re-sent at once (eager) after 90 s, not 900
    assert [s.attempts for s in (queued, running, fresh)] == [1, 1, 1]  # live or too fresh: untouched
    assert all(s.status == Status.QUEUED for s in (queued, running, fresh))
