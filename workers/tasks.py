"""Celery tasks: validate → evaluate shards (chord header) → finalize, plus the stuck-submission sweeper.

Every task may run twice (acks_late re-delivery, the sweeper re-sending lost work), so every task is
idempotent: status moves are conditional UPDATEs, a shard's result row is unique, and finalize does
nothing once the submission is final.

Failures: a bad predictions file fails the submission with the evaluator's message; an exception while
evaluating a shard fails it with a message naming benchmark and shard; transient database/broker errors
are retried with exponential backoff and, once retries run out, left to the sweeper.
"""
from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Greatest
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from evaluator.formats import FormatError
from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path
from leaderboard.submissions.models import (
    FINAL_STATUSES,
    InvalidTransition,
    ShardResult,
    Status,
    Submission,
)
from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions import direct_uploads, per_sample
from leaderboard.submissions.scores import compute_scores, recompute_scores, reduce_shards, shard_stamps, write_results
from leaderboard.submissions.signals import on_board
from leaderboard.submissions.uploads import UploadError
from leaderboard.upload_temp import remove_stale_uploads
from workers import broker_queue, evaluation, model_runs, pipeline
from workers.errors import RunSuperseded, SubmissionInvalid
from workers import torch_setup  # noqa: F401  (connects the worker process signals)
from workers import health  # noqa: F401  (logs what this worker cannot reach, at start-up)

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (
    OperationalError,
    InterfaceError,
    BrokerOperationalError,
    RedisConnectionError,
    RedisTimeoutError,
)
RUNNER_KINDS = model_runs.RUNNER_KINDS
HEARTBEAT_EVERY_S = 0.5  # a running shard reports (and checks for cancellation) at most this often

class ShardAborted(Exception):
    """The submission became final (cancelled, failed elsewhere) while a shard was running."""


class SubmissionTask(Task):
    """Retries transient errors with backoff; any other failure fails the submission with a readable reason."""

    autoretry_for = TRANSIENT_ERRORS
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    max_retries = settings.EVAL_TASK_MAX_RETRIES
    acks_late = True
    reject_on_worker_lost = True

    def failure_reason(self, exc: BaseException, args: tuple) -> str:
        return f"{self.name.rsplit('.', 1)[-1]} failed: {type(exc).__name__}: {exc}"

    def on_failure(self, exc, task_id, args, kwargs, einfo) -> None:
        if isinstance(exc, TRANSIENT_ERRORS):  # retries used up: the sweeper re-sends it later
            logger.error("Task %s gave up after transient errors; leaving it to the sweeper", task_id)
            return
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"{self.failure_reason(exc, args).split(':')[0]}: took longer than {self.soft_time_limit} s"
        else:
            reason = self.failure_reason(exc, args)
        try:
            pipeline.fail_submission(args[0], reason)
        except Exception:
            logger.exception("Could not mark submission %s failed (%s)", args[0], reason)


def _hostname(task: Task) -> str:
    return (task.request.hostname or socket.gethostname())[:200]


def _heartbeat(submission_id: int, worker: str) -> bool:
    """Record liveness; False when the submission is final (cancelled or failed) and work should stop."""
    return bool(
        Submission.objects.filter(pk=submission_id)
        .exclude(status__in=FINAL_STATUSES)
        .update(heartbeat_at=timezone.now(), worker=worker)
    )


# ---------------------------------------------------------------- validation


def _gt_path(benchmark: Benchmark) -> Path:
    """The benchmark's GT as a local file (the stored file, or this host's cached copy of the object)."""
    try:
        return local_path(GROUND_TRUTH, benchmark.gt_path)
    except FileNotFoundError:
        # A server problem, not the user's: the message must not reveal the private path.
        logger.error("GT file of benchmark %s is missing: %s", benchmark.slug, benchmark.gt_path)
        raise RuntimeError(f"the ground truth of benchmark {benchmark.slug!r} is unavailable on the server") from None


def _predictions_path(submission: Submission, benchmark: Benchmark) -> Path:
    try:
        return local_path(PRIVATE, submission.predictions_name(benchmark.slug))
    except FileNotFoundError:
        raise SubmissionInvalid(f"No predictions were stored for benchmark {benchmark.slug!r}.") from None


def _protocol(benchmark: Benchmark):
    """The benchmark's configured protocol; a bad stored name/options is a server problem, not the user's."""
    try:
        return benchmark.get_protocol()
    except ValueError as exc:
        logger.error("Benchmark %s has an invalid protocol: %s", benchmark.slug, exc)
        raise RuntimeError(f"the evaluation protocol of benchmark {benchmark.slug!r} is misconfigured on the server") from exc


def _validated_size(submission: Submission, benchmark: Benchmark) -> int:
    """Full evaluator validation of one benchmark's stored predictions; returns the number of GT samples."""
    gt_path = _gt_path(benchmark)
    protocol = _protocol(benchmark)
    try:
        num_gt = evaluation.num_samples(protocol, gt_path)
    except FormatError as exc:
        logger.error("GT file of benchmark %s is invalid: %s", benchmark.slug, exc)
        raise RuntimeError(f"the ground truth of benchmark {benchmark.slug!r} is invalid on the server") from exc
    pred_path = _predictions_path(submission, benchmark)
    try:
        evaluation.matched_indices(protocol, gt_path, pred_path)
    except FormatError as exc:  # name the file as the user knows it, not by its server path
        message = str(exc).replace(str(pred_path), f"{benchmark.slug}.npz").replace(str(gt_path), "ground truth")
        if submission.kind in RUNNER_KINDS:  # the model's ids and keys may carry held-out pixels: staff only
            raise SubmissionInvalid(model_runs.explain_unmatched(submission, benchmark, message)) from exc
        raise SubmissionInvalid(f"Predictions for benchmark {benchmark.slug!r}: {message}") from exc
    return num_gt


class ValidateTask(SubmissionTask):
    def failure_reason(self, exc: BaseException, args: tuple) -> str:
        return f"Validation failed: {type(exc).__name__}: {exc}"


@shared_task(
    bind=True,
    base=ValidateTask,
    soft_time_limit=settings.EVAL_VALIDATE_SOFT_TIME_LIMIT_S,
    time_limit=settings.EVAL_VALIDATE_TIME_LIMIT_S,
)
def validate_submission(self: Task, submission_id: int) -> dict:
    """SUBMITTED → VALIDATING → QUEUED: run models (if any), validate predictions, plan shards, send the chord."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None:
        return {"skipped": "deleted"}
    worker = _hostname(self)
    if submission.status == Status.SUBMITTED:
        try:
            submission.transition(Status.VALIDATING, worker=worker)
        except InvalidTransition:
            return {"skipped": "raced"}
    elif submission.status != Status.VALIDATING:  # a duplicate message: someone else got further
        return {"skipped": submission.status}
    submission.worker = worker
    benchmarks = list(submission.benchmarks.order_by("pk"))
    try:
        if not benchmarks:
            raise SubmissionInvalid("The submission names no benchmark.")
        if direct_uploads.is_pending(submission):  # a file PUT straight into the store: checked before anything reads it
            try:
                direct_uploads.verify(submission)
            except UploadError as exc:
                raise SubmissionInvalid(f"The uploaded file was refused: {exc}") from None
        if submission.kind in RUNNER_KINDS:
            model_runs.run_models(submission, benchmarks, worker)
        sizes = {b.pk: _validated_size(submission, b) for b in benchmarks}
    except SubmissionInvalid as exc:
        pipeline.fail_submission(submission_id, str(exc))
        return {"failed": str(exc)}
    except RunSuperseded:
        return {"skipped": "superseded"}
    from workers.capacity import evaluate_processes

    shard_size = pipeline.shard_size_for(sum(sizes.values()), evaluate_processes(), settings.EVAL_SHARD_SIZE,
                                         settings.EVAL_CHUNK_SIZE, settings.EVAL_SHARDS_PER_PROCESS)
    shards = pipeline.plan_shards(sizes, shard_size, settings.EVAL_CHUNK_SIZE)
    try:
        pipeline.queue_shards(submission, shards, from_status=Status.VALIDATING)
    except InvalidTransition:  # cancelled meanwhile
        return {"skipped": "cancelled"}
    return {"shards": len(shards)}


# ---------------------------------------------------------------- shards


class ShardTask(SubmissionTask):
    def failure_reason(self, exc: BaseException, args: tuple) -> str:
        _, benchmark_id, index, start, stop = args
        slug = Benchmark.objects.filter(pk=benchmark_id).values_list("slug", flat=True).first() or benchmark_id
        return (
            f"Evaluation failed on benchmark {slug!r}, shard {index} (samples {start}-{stop - 1}): "
            f"{type(exc).__name__}: {exc}"
        )


def _update_progress(submission_id: int) -> None:
    """progress_done = number of stored shards (never a +=, so a re-run shard is not counted twice)."""
    stored = (
        ShardResult.objects.filter(submission_id=OuterRef("pk"))
        .values("submission_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    Submission.objects.filter(pk=submission_id).update(
        progress_done=Greatest("progress_done", Subquery(stored)), heartbeat_at=timezone.now()
    )


@shared_task(
    bind=True,
    base=ShardTask,
    soft_time_limit=settings.EVAL_SHARD_SOFT_TIME_LIMIT_S,
    time_limit=settings.EVAL_SHARD_TIME_LIMIT_S,
)
def evaluate_shard(self: Task, submission_id: int, benchmark_id: int, shard_index: int, start: int, stop: int) -> dict:
    """Metric sums of GT samples [start, stop) of one benchmark, stored once as a ShardResult row."""
    submission = Submission.objects.filter(pk=submission_id).first()
    if submission is None or submission.is_final:
        return {"skipped": "final"}
    if ShardResult.objects.filter(submission_id=submission_id, benchmark_id=benchmark_id, shard_index=shard_index).exists():
        _update_progress(submission_id)
        return {"skipped": "done"}
    worker = _hostname(self)
    if submission.status == Status.QUEUED:
        try:
            submission.transition(Status.RUNNING, worker=worker)
        except InvalidTransition:
            pass  # another shard got there first, or the row became final (checked below)
    if not _heartbeat(submission_id, worker):
        return {"skipped": "final"}

    benchmark = Benchmark.objects.get(pk=benchmark_id)
    protocol = _protocol(benchmark)
    gt_path = _gt_path(benchmark)
    pred_path = _predictions_path(submission, benchmark)
    last_beat = time.monotonic()

    def on_chunk(*_args, **_kwargs) -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat >= HEARTBEAT_EVERY_S:
            last_beat = time.monotonic()
            if not _heartbeat(submission_id, worker):
                raise ShardAborted

    try:
        scores = evaluation.score_range(protocol, gt_path, pred_path, start, stop, settings.EVAL_CHUNK_SIZE, on_chunk,
                                        max(1, settings.EVAL_SCORING_THREADS))
    except ShardAborted:
        return {"skipped": "final"}
    if scores.per_sample is not None:
        per_sample.store_shard(submission, benchmark.slug, shard_index, scores.per_sample)
    try:
        with transaction.atomic():
            ShardResult.objects.get_or_create(
                submission_id=submission_id,
                benchmark_id=benchmark_id,
                shard_index=shard_index,
                defaults={
                    "sample_start": start,
                    "sample_stop": stop,
                    "sums": {split: s.to_dict() for split, s in scores.sums.items()},
                    "worker": worker,
                    **evaluation.protocol_stamp(protocol),
                },
            )
    except IntegrityError:  # the submission was deleted meanwhile
        return {"skipped": "deleted"}
    _update_progress(submission_id)
    return {"shard": shard_index, "samples": stop - start}


# ---------------------------------------------------------------- finalize


class FinalizeTask(SubmissionTask):
    def failure_reason(self, exc: BaseException, args: tuple) -> str:
        return f"Combining the shard results failed: {type(exc).__name__}: {exc}"


@shared_task(bind=True, base=FinalizeTask, time_limit=settings.EVAL_FINALIZE_TIME_LIMIT_S)
def finalize_submission(self: Task, submission_id: int) -> dict:
    """Reduce all ShardResult rows into BenchmarkResult rows and scores, and finish — one transaction."""
    with transaction.atomic():
        submission = Submission.objects.select_for_update().filter(pk=submission_id).first()
        if submission is None or submission.is_final:
            return {"skipped": "final"}
        if submission.status not in (Status.QUEUED, Status.RUNNING):
            return {"skipped": submission.status}
        missing = pipeline.missing_shards(submission)
        if missing or not submission.eval_plan.get("shards"):
            # A duplicate shard completion can fire the chord early; the last real shard or the sweeper finishes it.
            return {"waiting_for": len(missing)}
        shards = list(ShardResult.objects.filter(submission=submission))
        scores = write_results(submission, reduce_shards(shards), shard_stamps(shards))
        if submission.status == Status.QUEUED:
            submission.transition(Status.RUNNING)
        submission.transition(
            Status.FINISHED,
            **scores.stored_fields(),
            progress_done=len(shards),
            progress_total=len(shards),
            error_message="",
        )
        if on_board(submission):  # e.g. a computed baseline: its row appears now
            bump_version()
    # A benchmark or split change committed while the transaction above ran refreshed every finished row, but this
    # one was not finished yet to that refresh: derive the scores once more now, from the current definitions.
    if compute_scores(submission).stored_fields() != scores.stored_fields():
        scores = recompute_scores(submission)
    return {"finished": submission.uuid.hex, "mpe": scores.mpe}


# ---------------------------------------------------------------- sweeper


@shared_task(bind=True, base=Task, acks_late=False, time_limit=settings.EVAL_FINALIZE_TIME_LIMIT_S)
def sweep_stuck_submissions(self: Task) -> dict:
    """Beat task: finish submissions whose chord was lost, re-send stalled work, fail after EVAL_MAX_ATTEMPTS."""
    report = {"finalized": 0, "requeued": 0, "revalidate": 0, "failed": 0, "waiting": 0, "lost": 0}
    report["reaped"] = model_runs.reap_orphaned_runs()  # runs of dead worker processes on this host
    report["sandbox_flags_cleared"] = model_runs.clear_stale_sandbox_flags()
    for submission in pipeline.unfinalized_submissions():
        if pipeline.finalize_if_complete(submission):
            report["finalized"] += 1
    broker_read, waiting, delivered = False, None, None  # task ids in the broker; read lazily, once per sweep
    for submission in pipeline.quiet_submissions():
        if submission.eval_plan.get("shards") and not pipeline.missing_shards(submission):
            continue  # complete: handled by finalize above (once the grace period has passed)
        if not broker_read:  # queues first: a message moves from its queue to the delivered (unacked) hash
            broker_read, waiting = True, broker_queue.waiting_task_ids(self.app)
            delivered = broker_queue.delivered_task_ids(self.app) if waiting is not None else None
        ids = set(pipeline.task_ids(submission.eval_plan))
        if ids & (waiting or set()):
            report["waiting"] += 1  # behind a backlog, not lost: re-sending would only lengthen the queue
            continue
        if not pipeline.is_stuck(submission):
            # Lost sooner than the timeout (issue 24): none of its tasks is queued, reserved or running, as after a
            # Redis restart that dropped them. Unknown broker state or no task ids: wait for the timeout.
            if delivered is None or not ids or ids & delivered:
                continue
            report["lost"] += 1
        action = pipeline.redispatch(submission.pk)
        if action in report:
            report[action] += 1
    report["stale_uploads"] = remove_stale_uploads()  # temp files of web requests that were killed
    if any(report.values()):
        logger.warning("Sweeper: %s", report)
    return report
