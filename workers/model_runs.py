"""Model submissions on the worker: run the submitted model on each benchmark's held-out images.

What a participant may learn here is only what we write (docs/security.md, "Model runs"): the model
ran on held-out images, so its stdout/stderr and anything it put in a file name, array key or sample
id may carry those images. The owner therefore gets a short message from a fixed vocabulary (limit
hit, exit code, which of our checks failed); the full log and the detailed reason are kept in
``Submission.log`` for staff.

Attempts: every run claims the next value of ``Submission.model_runs`` (a conditional UPDATE, so it
survives the worker process dying mid-run and re-delivery of the task); a submission whose run was
started ``MODEL_RUN_MAX_ATTEMPTS`` times is failed instead of run again. While running, the run
heartbeats about once a second; that same query stops it (cancel, or a newer attempt took over).
``sandbox_active`` is set from the claim until the sandbox is gone, so the in-progress cap counts a
cancelled run until it has really stopped. Runs left behind by a dead worker process are reaped (at
worker start-up, before each run and by the sweeper) and their flag cleared.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from celery import signals
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_folder, local_path, put_file
from leaderboard.submissions.efficiency import lenient_figures, round_significant, store_efficiency
from leaderboard.submissions.models import EfficiencySource, Status, Submission, SubmissionKind
from workers import evaluation
from workers.errors import RunSuperseded, SubmissionInvalid

logger = logging.getLogger(__name__)

RUNNER_KINDS = {SubmissionKind.CONTAINER: "oci", SubmissionKind.MODEL_ARCHIVE: "archive"}  # workers.runners kinds
# Whose figures /output/meta.json holds: the archive runner's trusted entry script measures them; a container's
# are its own report (shown as reported).
META_SOURCES = {SubmissionKind.CONTAINER: EfficiencySource.REPORTED, SubmissionKind.MODEL_ARCHIVE: EfficiencySource.MEASURED}
LOG_LIMIT = 64 * 1024
INVALID_PREDICTIONS = (
    "the model's /output/predictions.npz is not a valid predictions file (an .npz of numeric arrays, as "
    "numpy.savez writes it, within the upload size limits); the details are kept for the organisers"
)
UNMATCHED_PREDICTIONS = (
    "the model's predictions do not fit the benchmark (every sample id of the input manifest once, the "
    "SMPL-X keys and shapes of docs/formats.md); the details are kept for the organisers"
)


def run_label(submission_id: int, attempt: int) -> dict[str, str]:
    return {"submission": str(submission_id), "attempt": str(attempt)}


def claim_attempt(submission: Submission) -> int:
    """Count one more run of ``submission`` (VALIDATING) and mark its sandbox active; returns the attempt number.

    Raises SubmissionInvalid (after failing nothing: the caller fails it) when the runs are used up,
    RunSuperseded when the submission left VALIDATING meanwhile.
    """
    if submission.model_runs >= settings.MODEL_RUN_MAX_ATTEMPTS:
        raise SubmissionInvalid(
            f"The model run was started {submission.model_runs} times and did not finish (the worker running it "
            "stopped, e.g. it ran out of memory or was restarted); it is not run again. Please contact the "
            "organisers if this repeats."
        )
    claimed = Submission.objects.filter(pk=submission.pk, status=Status.VALIDATING, model_runs=submission.model_runs)
    if not claimed.update(model_runs=F("model_runs") + 1, sandbox_active=True, heartbeat_at=timezone.now()):
        raise RunSuperseded
    submission.model_runs += 1
    return submission.model_runs


def still_current(submission_id: int, attempt: int, worker: str) -> bool:
    """Heartbeat of a running model; False when it must stop (cancelled, failed, or a newer attempt runs)."""
    return bool(
        Submission.objects.filter(pk=submission_id, status=Status.VALIDATING, model_runs=attempt)
        .update(heartbeat_at=timezone.now(), worker=worker)
    )


def release(submission_id: int, attempt: int) -> None:
    """The sandbox of ``attempt`` is gone; clear the flag unless a newer attempt has set it again."""
    Submission.objects.filter(pk=submission_id, model_runs=attempt).update(sandbox_active=False)


def reap_orphaned_runs() -> int:
    """Remove runs of dead worker processes on this host and clear their submissions' sandbox flag."""
    from workers.runners import reap_orphans

    reaped = reap_orphans(settings.MODEL_RUN_WORK_ROOT)
    for owner in reaped:
        labels = owner.labels if owner else {}
        if labels.get("submission", "").isdigit() and labels.get("attempt", "").isdigit():
            release(int(labels["submission"]), int(labels["attempt"]))
    return len(reaped)


def clear_stale_sandbox_flags() -> int:
    """Flags of runs whose heartbeat stopped long ago (their machine is gone, nobody can reap it)."""
    cutoff = timezone.now() - timedelta(seconds=settings.EVAL_STUCK_AFTER_S)
    return Submission.objects.filter(sandbox_active=True, heartbeat_at__lt=cutoff).update(sandbox_active=False)


class StaffLog:
    """``Submission.log``: the models' output and our detailed reasons, for staff (truncated to its tail)."""

    def __init__(self, submission_id: int) -> None:
        self.submission_id = submission_id
        self.parts: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        Submission.objects.filter(pk=self.submission_id).update(log="\n".join(self.parts)[-LOG_LIMIT:])


def _check_structure(path: Path, benchmark: Benchmark) -> None:
    """The web's checks of an uploaded npz (zip directory, sizes, .npy headers, the keys the benchmark's protocol
    takes: a whole-image benchmark's file holds people, ``image_ids`` / ``joints2d`` ...), before numpy loads it."""
    from leaderboard.submissions.uploads import UploadError, check_npz_structure, prediction_keys

    try:
        check_npz_structure(path, "predictions.npz", prediction_keys(benchmark))
    except UploadError as exc:
        raise _Invalid(INVALID_PREDICTIONS, str(exc)) from None


class _Invalid(Exception):
    def __init__(self, public: str, detail: str) -> None:
        super().__init__(public)
        self.public, self.detail = public, detail


def run_models(submission: Submission, benchmarks: list[Benchmark], worker: str) -> None:
    """Run a model submission on each benchmark's held-out images; write its predictions where uploads go.

    Raises SubmissionInvalid with the owner's message, or RunSuperseded when the run must stop silently.
    """
    from workers.runners import ModelRunError, RunHooks, RunLimits, run_model_submission
    from workers.runners.rundirs import create_run_dir, remove_run_dir

    if not submission.upload:
        raise SubmissionInvalid("The model submission has no uploaded artifact.")
    for benchmark in benchmarks:
        if not benchmark.accepts_models:
            raise SubmissionInvalid(f"Benchmark {benchmark.slug!r} has no held-out images; submit predictions instead.")
    reap_orphaned_runs()
    attempt = claim_attempt(submission)
    artifact = local_path(PRIVATE, submission.upload.name)  # this host's copy of the stored artefact
    labels = run_label(submission.pk, attempt)
    should_stop: Callable[[], bool] = lambda: not still_current(submission.pk, attempt, worker)  # noqa: E731
    log = StaffLog(submission.pk)
    limits = RunLimits(
        time_s=settings.MODEL_RUN_TIME_LIMIT_S,
        memory_bytes=settings.MODEL_RUN_MEMORY_BYTES,
        output_bytes=settings.MODEL_RUN_OUTPUT_BYTES,
        max_files=settings.MODEL_RUN_MAX_FILES,
        cpus=settings.MODEL_RUN_CPUS or None,
        gpu=evaluation.eval_device().startswith("cuda"),
    )
    try:
        for benchmark in benchmarks:
            where = f"Model run on benchmark {benchmark.slug!r}"
            work_dir = create_run_dir(Path(settings.MODEL_RUN_WORK_ROOT), labels, prefix=f"{submission.pk}-")
            try:
                try:
                    result = run_model_submission(RUNNER_KINDS[submission.kind], artifact,
                                                  local_folder(GROUND_TRUTH, benchmark.images_path), work_dir / "work", limits,
                                                  RunHooks(should_stop=should_stop, labels=labels))
                except ModelRunError as exc:  # about the upload itself (no held-out data was involved yet)
                    log.add(f"===== {benchmark.slug}: not started =====\n{exc}")
                    raise SubmissionInvalid(f"{where}: {exc}") from exc
                log.add(f"===== {benchmark.slug} (attempt {attempt}, {result.duration_s:.1f} s, "
                        f"exit code {result.returncode}) =====\n{result.log_tail}")
                if result.cancelled or not still_current(submission.pk, attempt, worker):
                    raise RunSuperseded
                if not result.ok:
                    raise SubmissionInvalid(f"{where}: {result.error}")
                try:
                    _check_structure(result.predictions_path, benchmark)
                except _Invalid as exc:
                    log.add(f"[{benchmark.slug}] predictions refused: {exc.detail}")
                    raise SubmissionInvalid(f"{where}: {exc.public}") from None
                put_file(PRIVATE, submission.predictions_name(benchmark.slug), Path(result.predictions_path))
                _record_efficiency(submission, benchmark, result.meta, log, limits.gpu)
            finally:
                remove_run_dir(work_dir)
    finally:
        release(submission.pk, attempt)


def _record_efficiency(submission: Submission, benchmark: Benchmark, meta: dict | None, log: StaffLog,
                       gpu: bool) -> None:
    """Speed and size of this run from /output/meta.json; figures that fail the checks are dropped (staff log).

    The model saw held-out images before these were written (a container writes them; an archive's model can
    choose its parameter count or slow itself down), so, as published numbers, they are rounded to 3 significant
    digits and the device is the worker's, never a text from the model: a few bits per run, not a side channel.
    """
    if meta is None:
        return
    figures, dropped = lenient_figures(meta)
    if dropped:
        log.add(f"[{benchmark.slug}] meta.json figures dropped: " + "; ".join(dropped))
    figures = {k: round_significant(v) for k, v in figures.items() if k != "device"}
    figures["device"] = _worker_device(gpu)
    store_efficiency(submission, [benchmark], figures, META_SOURCES[submission.kind])


def _worker_device(gpu: bool) -> str:
    import torch

    return torch.cuda.get_device_name()[:80] if gpu and torch.cuda.is_available() else "cpu"


def explain_unmatched(submission: Submission, benchmark: Benchmark, detail: str) -> str:
    """The owner's message when a model's predictions fail the evaluator's checks; ``detail`` goes to staff."""
    current = Submission.objects.filter(pk=submission.pk).values_list("log", flat=True).first() or ""
    Submission.objects.filter(pk=submission.pk).update(
        log=(current + f"\n[{benchmark.slug}] predictions refused: {detail}")[-LOG_LIMIT:]
    )
    return f"Model run on benchmark {benchmark.slug!r}: {UNMATCHED_PREDICTIONS}"


@signals.worker_ready.connect
def _reap_at_start_up(**_kwargs) -> None:
    """Whatever killed this host's previous worker left its runs behind: remove them before taking work."""
    try:
        count = reap_orphaned_runs()
    except Exception:  # reaping must never keep a worker from starting
        logger.exception("Could not reap orphaned model runs at start-up")
        return
    if count:
        logger.warning("Reaped %d orphaned model run(s) at start-up", count)
