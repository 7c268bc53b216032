"""Start, cancel and re-dispatch evaluations: the functions the web and the sweeper call.

Pipeline: ``validate_submission`` (queue validate) → chord(group of ``evaluate_shard`` (queue evaluate))
→ ``finalize_submission`` (queue finalize). Every task id is chosen here and written to
``Submission.eval_plan`` before the message is sent, so cancel can revoke what is still pending and
the sweeper can re-send exactly the shards that have no ShardResult row.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from leaderboard.submissions.models import (
    FINAL_STATUSES,
    IN_PROGRESS_STATUSES,
    InvalidTransition,
    ShardResult,
    Status,
    Submission,
)

logger = logging.getLogger(__name__)

# The tasks are addressed by name: workers.tasks imports this module, so importing it back would be an import circle.
VALIDATE_TASK = "workers.tasks.validate_submission"
EVALUATE_TASK = "workers.tasks.evaluate_shard"
FINALIZE_TASK = "workers.tasks.finalize_submission"


def task_signature(name: str, *args: object):
    """A signature of the registered task ``name`` (so eager mode, routing and patches apply as to the task itself)."""
    from workers.celery_app import app, load_tasks

    if name not in app.tasks:  # a web process that has not imported the task modules yet
        load_tasks()
    return app.signature(name, args=args, immutable=True)


@dataclass(frozen=True)
class Shard:
    """GT samples ``[start, stop)`` of one benchmark, in GT order."""

    benchmark: int
    index: int
    start: int
    stop: int
    task_id: str = ""

    @property
    def key(self) -> tuple[int, int]:
        return (self.benchmark, self.index)


def effective_shard_size(shard_size: int, chunk_size: int) -> int:
    """``shard_size`` rounded up to a whole number of chunks.

    A batched float32 forward pass can differ in the last bits with the batch it runs in; with shard
    boundaries on chunk boundaries every sample is evaluated in the same batch whatever the shard
    size, so any sharding gives bit-identical results (the sums themselves are exact).
    """
    if shard_size < 1 or chunk_size < 1:
        raise ValueError(f"shard and chunk sizes must be at least 1, got {shard_size} and {chunk_size}")
    return -(-shard_size // chunk_size) * chunk_size


def shard_size_for(total_samples: int, processes: int, max_shard_size: int, chunk_size: int,
                   shards_per_process: int) -> int:
    """Shard size giving each of ``processes`` evaluating processes about ``shards_per_process`` shards.

    Several shards per process keep them all busy to the end even when one is slowed down (a busy
    host, a longer benchmark); at least one chunk each, at most ``max_shard_size`` (EVAL_SHARD_SIZE).
    ``processes`` 0 (unknown) or ``shards_per_process`` 0 (fixed shards) give ``max_shard_size``.
    """
    if processes < 1 or total_samples < 1 or shards_per_process < 1:
        return max_shard_size
    wanted = -(-total_samples // (processes * shards_per_process))
    return max(chunk_size, min(max_shard_size, wanted))


def plan_shards(sizes: dict[int, int], shard_size: int, chunk_size: int = 1) -> list[Shard]:
    """Cut each benchmark (``{benchmark_id: num_samples}``) into consecutive shards of about ``shard_size``."""
    shard_size = effective_shard_size(shard_size, chunk_size)
    return [
        Shard(benchmark_id, index, start, min(start + shard_size, n))
        for benchmark_id, n in sorted(sizes.items())
        for index, start in enumerate(range(0, n, shard_size))
    ]


def planned_shards(submission: Submission) -> list[Shard]:
    return [Shard(**entry) for entry in submission.eval_plan.get("shards", [])]


def missing_shards(submission: Submission) -> list[Shard]:
    """Planned shards that have no ShardResult row yet."""
    done = set(ShardResult.objects.filter(submission=submission).values_list("benchmark_id", "shard_index"))
    return [shard for shard in planned_shards(submission) if shard.key not in done]


def _new_task_id() -> str:
    return str(uuid.uuid4())


def start_evaluation(submission_id: int) -> str:
    """Queue validation of a stored submission (web: call inside ``transaction.on_commit``). Returns the task id."""
    task_id = _new_task_id()
    Submission.objects.filter(pk=submission_id).update(
        eval_plan={"validate_task_id": task_id}, attempts=F("attempts") + 1, heartbeat_at=timezone.now()
    )
    # No result is awaited: with a Redis result backend, subscribing to it would retry for ~20 s while Redis is down.
    task_signature(VALIDATE_TASK, submission_id).apply_async(task_id=task_id, ignore_result=True)
    return task_id


def queue_shards(submission: Submission, shards: list[Shard], from_status: str) -> None:
    """Record the shard plan, move the submission to QUEUED and send the chord once that is committed.

    ``shards`` is the full plan; only those without a ShardResult row are sent.
    """
    shards = [Shard(**{**asdict(s), "task_id": _new_task_id()}) for s in shards]
    plan = {
        "validate_task_id": submission.eval_plan.get("validate_task_id", ""),
        "shard_size": max((s.stop - s.start for s in shards), default=0),
        "shards": [asdict(s) for s in shards],
        "finalize_task_id": _new_task_id(),
    }
    with transaction.atomic():
        done = set(ShardResult.objects.filter(submission=submission).values_list("benchmark_id", "shard_index"))
        fields = {"eval_plan": plan, "progress_total": len(shards), "progress_done": len(done), "error_message": ""}
        if from_status == Status.QUEUED:  # the sweeper re-sending lost shards of a queued submission
            moved = Submission.objects.filter(pk=submission.pk, status=Status.QUEUED).update(
                heartbeat_at=timezone.now(), **fields
            )
            if not moved:
                raise InvalidTransition(f"Submission {submission.uuid} left the queued state.")
            submission.eval_plan = plan
        else:
            submission.transition(Status.QUEUED, **fields)
        pending = [s for s in shards if s.key not in done]
        transaction.on_commit(lambda: _send_chord(submission.pk, pending, plan["finalize_task_id"]))


def _send_chord(submission_id: int, shards: list[Shard], finalize_task_id: str) -> None:
    from celery import chord

    finalize = task_signature(FINALIZE_TASK, submission_id).set(task_id=finalize_task_id)
    if not shards:
        finalize.apply_async()
        return
    header = [
        task_signature(EVALUATE_TASK, submission_id, s.benchmark, s.index, s.start, s.stop).set(task_id=s.task_id)
        for s in shards
    ]
    chord(header)(finalize)


def task_ids(plan: dict) -> list[str]:
    """Every task id recorded in an evaluation plan (validation, shards, finalize)."""
    ids = [plan.get("validate_task_id"), plan.get("finalize_task_id")]
    ids += [shard.get("task_id") for shard in plan.get("shards", [])]
    return [task_id for task_id in ids if task_id]


def cancel_evaluation(submission_id: int) -> None:
    """Cancel an evaluation: the row becomes CANCELLED (if not final yet) and pending tasks are revoked.

    Running shards notice the final status at their next chunk and stop without writing; tasks that
    a worker receives later see the final status and do nothing, so revoking is only a shortcut.
    """
    from workers.celery_app import app

    submission = Submission.objects.get(pk=submission_id)
    if not submission.is_final:
        try:
            submission.transition(Status.CANCELLED)
        except InvalidTransition:
            submission.refresh_from_db()
    ids = task_ids(submission.eval_plan)
    if ids and not app.conf.task_always_eager:
        try:
            app.control.revoke(ids)
        except Exception:  # broadcasting is best effort (the embedded SQL broker cannot); the status check is not
            logger.warning("Could not broadcast revoke for submission %s", submission.uuid, exc_info=True)


def fail_submission(submission_id: int, message: str) -> bool:
    """Move a submission to FAILED with a message for its owner; False if it was already final."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.is_final:
        return False
    try:
        submission.transition(Status.FAILED, error_message=message[:5000])
    except InvalidTransition:
        return False
    return True


def stuck_submissions(now=None) -> Iterable[Submission]:
    """In-progress submissions with no heartbeat for EVAL_STUCK_AFTER_S."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.EVAL_STUCK_AFTER_S)
    return Submission.objects.filter(status__in=IN_PROGRESS_STATUSES, heartbeat_at__lt=cutoff).order_by("pk")


def quiet_submissions(now=None) -> Iterable[Submission]:
    """In-progress submissions with no heartbeat for EVAL_LOST_AFTER_S (or EVAL_STUCK_AFTER_S, if shorter): those
    the sweeper checks against the broker's state (lost work) or its timeout (stuck work)."""
    quiet_s = min(settings.EVAL_LOST_AFTER_S, settings.EVAL_STUCK_AFTER_S)
    cutoff = (now or timezone.now()) - timedelta(seconds=quiet_s)
    return Submission.objects.filter(status__in=IN_PROGRESS_STATUSES, heartbeat_at__lt=cutoff).order_by("pk")


def is_stuck(submission: Submission, now=None) -> bool:
    """No heartbeat for EVAL_STUCK_AFTER_S."""
    return submission.heartbeat_at < (now or timezone.now()) - timedelta(seconds=settings.EVAL_STUCK_AFTER_S)


def unfinalized_submissions(now=None) -> Iterable[Submission]:
    """Queued/running submissions quiet for EVAL_FINALIZE_GRACE_S: candidates for a lost chord callback."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.EVAL_FINALIZE_GRACE_S)
    return Submission.objects.filter(
        status__in=[Status.QUEUED, Status.RUNNING], heartbeat_at__lt=cutoff, progress_total__gt=0
    ).order_by("pk")


def redispatch(submission_id: int) -> str:
    """Re-send the lost part of a stuck evaluation, or fail it after EVAL_MAX_ATTEMPTS. Returns what was done."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update(skip_locked=True).filter(pk=submission_id).first()
        if submission is None or submission.status in FINAL_STATUSES:
            return "gone"
        if submission.attempts >= settings.EVAL_MAX_ATTEMPTS:
            where = submission.worker or "no worker"
            fail_submission(
                submission.pk,
                f"Evaluation stalled {submission.attempts} times; last seen on worker {where}. "
                "Please contact the organisers if this repeats.",
            )
            return "failed"
        Submission.objects.filter(pk=submission.pk).update(attempts=F("attempts") + 1)
        submission.attempts += 1
        plan = planned_shards(submission)
        if submission.status in (Status.SUBMITTED, Status.VALIDATING) or not plan:
            if submission.status == Status.RUNNING:
                submission.transition(Status.QUEUED)
            if submission.status != Status.SUBMITTED:
                submission.transition(Status.SUBMITTED, worker="")
            task_id = _new_task_id()
            Submission.objects.filter(pk=submission.pk).update(
                eval_plan={"validate_task_id": task_id}, heartbeat_at=timezone.now()
            )
            transaction.on_commit(lambda: task_signature(VALIDATE_TASK, submission.pk).apply_async(task_id=task_id))
            return "revalidate"
        status = submission.status
        if status == Status.RUNNING:
            submission.transition(Status.QUEUED)
            status = Status.QUEUED
        queue_shards(submission, plan, from_status=status)
        return "requeued"


def finalize_if_complete(submission: Submission) -> bool:
    """Send finalize for a queued/running submission whose shards are all stored (its chord was lost)."""
    if not submission.eval_plan.get("shards") or missing_shards(submission):
        return False
    task_signature(FINALIZE_TASK, submission.pk).apply_async()
    return True
