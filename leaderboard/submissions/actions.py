"""What the web views, the API and the admin do to submissions: create from an upload, cancel, publish, re-run.

Both front ends call these, so a rule (quota, state machine, on-commit enqueue) lives in one place.
"""
from __future__ import annotations

import logging
import unicodedata
from pathlib import PurePosixPath

from django.db import transaction
from django.utils import timezone

from leaderboard.benchmarks.phases import PhaseClosed, open_phases
from leaderboard.storage import PRIVATE, copy_prefix, delete_prefix, exists
from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions.efficiency import FIGURE_FIELDS, FigureError, check_figures, store_efficiency
from leaderboard.submissions.models import (
    EfficiencySource, InvalidTransition, Status, Submission, SubmissionKind, Team,
)
from leaderboard.submissions.quotas import check_quotas, lock_team, lock_user
from leaderboard.submissions.uploads import PhaseClosedError, UploadError, stage_upload
from leaderboard.submissions.visibility import user_teams

log = logging.getLogger(__name__)

METADATA_FIELDS = ("method_name", "description", "paper_url", "code_url")


def _start_evaluation(submission_id: int) -> None:
    from workers.pipeline import start_evaluation  # lazy: the web process should not import the worker stack at start-up

    start_evaluation(submission_id)


ONE_LINE_FIELDS = ("method_name", "paper_url", "code_url")  # shown in headers, subjects, tables: plain text only


def control_character_problem(value: str, label: str) -> str | None:
    """Why ``value`` is not plain one-line text (a control or format character: CR/LF, tabs, escapes, bidi
    overrides), or None."""
    bad = next((c for c in value if unicodedata.category(c) in ("Cc", "Cf")), None)
    if bad is None:
        return None
    return f"The {label} contains a control character (U+{ord(bad):04X}); use plain text on one line."


def check_one_line_fields(metadata: dict) -> None:
    """Refuse control and format characters in one-line fields: a CR/LF in a method name went into the subject of
    the owner's email, which was then silently lost (issue 24, Low). Team names follow the same rule."""
    for field in ONE_LINE_FIELDS:
        problem = control_character_problem(str(metadata.get(field) or ""), field.replace("_", " "))
        if problem is not None:
            raise UploadError(problem, field=field)


def reported_figures(metadata: dict, kind: str) -> dict:
    """The optional efficiency figures and code commit of an upload (``efficiency.check_figures``), or UploadError.

    Only a predictions file may report speed and size: a model the server runs is measured instead.
    """
    try:
        figures = check_figures(metadata)
    except FigureError as exc:
        raise UploadError(str(exc), field=exc.field) from None
    given = [f for f in FIGURE_FIELDS if f in figures]
    if given and kind != SubmissionKind.PREDICTIONS:
        raise UploadError(f"{given[0]}: a model submission's speed and size are measured when the server runs it; "
                          "report them only with a predictions file.", field=given[0])
    return figures


def create_submission(
    user, uploaded_file, kind: str, benchmark_slugs: list[str], metadata: dict, team: Team | None = None
) -> Submission:
    """Validate and store an upload, create the Submission (for ``team`` if given) and enqueue its evaluation once committed.

    ``metadata`` may carry reported efficiency figures and a code commit (``reported_figures``), shown as reported.
    Raises UploadError (4xx) or QuotaExceeded (429); on either nothing is stored. The front ends only offer the
    user's own teams; a team the user is not a member of here is a programming error (PermissionError).
    """
    if team is not None and not user_teams(user).filter(pk=team.pk).exists():
        raise PermissionError(f"{user} is not a member of team {team.name!r}.")
    check_one_line_fields(metadata)  # before the file is looked at
    figures = reported_figures(metadata, kind)
    staged = stage_upload(uploaded_file, kind, benchmark_slugs)
    try:
        with transaction.atomic():
            lock_user(user)
            lock_team(team)
            now = timezone.now()
            try:  # staff too: a phase's dates are the host's rule for everyone
                phases = open_phases(staged.benchmarks, now)
            except PhaseClosed as exc:
                raise PhaseClosedError(str(exc), field="benchmark") from None
            check_quotas(user, staged.benchmarks, now, team=team, phases=phases)
            submission = Submission.objects.create(
                owner=user, team=team, kind=staged.kind, heartbeat_at=now,  # the sweeper's clock
                code_commit=figures.pop("code_commit", ""), **{k: metadata.get(k) or "" for k in METADATA_FIELDS},
            )
            submission.benchmarks.set(staged.benchmarks)
            submission.phases.set(phases)
            store_efficiency(submission, staged.benchmarks, figures, EfficiencySource.REPORTED)
            staged.commit(submission)
            submission.save(update_fields=["upload", "upload_sha256", "upload_size"])
            transaction.on_commit(lambda: _dispatch(submission))
    except BaseException:
        staged.discard()  # the row was rolled back, so nothing refers to the files
        raise
    return submission


QUEUED_MESSAGE = "Upload accepted. The evaluation has been queued."
QUEUE_DOWN_MESSAGE = ("Upload accepted and stored, but the evaluation queue is not answering; the evaluation will be "
                      "queued automatically once it is back. Nothing to do on your side.")


def was_queued(submission: Submission) -> bool:
    """False when ``create_submission`` stored it but could not reach the broker (it waits for the sweeper)."""
    return not getattr(submission, "queue_unavailable", False)


def queue_message(submission: Submission) -> str:
    """What the user is told after an upload: queued, or stored and waiting for the queue (broker down)."""
    return QUEUED_MESSAGE if was_queued(submission) else QUEUE_DOWN_MESSAGE


def _dispatch(submission: Submission) -> None:
    """Queue the evaluation of a committed submission; a broker outage must not lose it (issue 12, High 6).

    The row and its files are committed by now, so they stay whatever happens here: the submission waits in
    "submitted" and the sweeper re-sends it once the broker is back (its heartbeat is stamped at creation).
    Sending gives up after CELERY_PUBLISH_TIMEOUT_S-bounded tries (issue 24, Medium 2), and ``queue_message``
    tells the user.
    """
    try:
        _start_evaluation(submission.pk)
    except Exception:
        submission.queue_unavailable = True
        log.exception("Could not queue the evaluation of submission %s (broker down?); the sweeper will retry it",
                      submission.pk)


def cancel_submission(submission: Submission) -> None:
    """Cancel a submission that is not final yet (InvalidTransition if it is), then stop its work."""
    submission.transition(Status.CANCELLED, error_message="Cancelled by the user.")

    def stop() -> None:
        try:
            from workers.pipeline import cancel_evaluation

            cancel_evaluation(submission.pk)
        except Exception:  # the row is already cancelled; workers check it before writing anything
            log.exception("cancel_evaluation failed for submission %s", submission.pk)

    transaction.on_commit(stop)


def set_published(submission: Submission, published: bool) -> None:
    """Publish or unpublish. Only a finished submission can be published (its numbers must exist)."""
    if published and submission.status != Status.FINISHED:
        raise InvalidTransition(f"Only finished submissions can be published; this one is {submission.get_status_display().lower()}.")
    if published and submission.is_hidden:
        raise InvalidTransition("The hosts have hidden this submission; it cannot be published (see their email).")
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(is_public=published)
        bump_version()
    submission.is_public = published


def rerun_submission(submission: Submission) -> Submission:
    """A fresh evaluation of a submission's stored upload: a new row (same owner, team, metadata, benchmarks)
    with a copy of the stored files, enqueued once committed. The original row and its results stay as they were.

    Used by hosts (admin) after a fix to the evaluator or the ground truth; it bypasses the quotas on purpose.
    """
    if not submission.upload.name:
        raise ValueError(f"Submission {submission.uuid} has no stored upload to evaluate again.")
    source = f"uploads/{submission.uuid}"
    if not exists(PRIVATE, submission.upload.name):
        raise ValueError(f"The upload of submission {submission.uuid} is no longer stored.")
    target: str | None = None
    try:
        with transaction.atomic():
            fresh = Submission.objects.create(
                owner=submission.owner, team=submission.team, kind=submission.kind,
                upload_sha256=submission.upload_sha256, upload_size=submission.upload_size,
                **{k: getattr(submission, k) for k in METADATA_FIELDS},
            )
            fresh.benchmarks.set(submission.benchmarks.all())
            fresh.phases.set(submission.phases.all())  # a re-run belongs to the phase of the run it repeats
            target = f"uploads/{fresh.uuid}"
            # Validated predictions (predictions/<slug>.npz) are part of a predictions upload; a model's are its
            # output and are written again by the new run. Per-sample results belong to the first evaluation.
            copy_prefix(PRIVATE, source, target,
                        skip=("per_sample",) if submission.kind == SubmissionKind.PREDICTIONS else ("per_sample", "predictions"))
            kept = PurePosixPath(submission.upload.name).relative_to(source)
            fresh.upload.name = f"{target}/{kept.as_posix()}"
            fresh.save(update_fields=["upload"])
            transaction.on_commit(lambda: _start_evaluation(fresh.pk))
    except BaseException:
        if target is not None:
            delete_prefix(PRIVATE, target)
        raise
    return fresh
