"""What the web views and the API do to submissions: create from an upload, cancel, publish.

Both front ends call these, so a rule (quota, state machine, on-commit enqueue) lives in one place.
"""
from __future__ import annotations

import logging

from django.db import transaction

from leaderboard.submissions.models import InvalidTransition, Status, Submission, Team
from leaderboard.submissions.quotas import check_quotas, lock_user
from leaderboard.submissions.uploads import stage_upload
from leaderboard.submissions.visibility import user_teams

log = logging.getLogger(__name__)

METADATA_FIELDS = ("method_name", "description", "paper_url", "code_url")


def _start_evaluation(submission_id: int) -> None:
    from workers.pipeline import start_evaluation  # lazy: the web process should not import the worker stack at start-up

    start_evaluation(submission_id)


def create_submission(
    user, uploaded_file, kind: str, benchmark_slugs: list[str], metadata: dict, team: Team | None = None
) -> Submission:
    """Validate and store an upload, create the Submission (for ``team`` if given) and enqueue its evaluation once committed.

    Raises UploadError (4xx) or QuotaExceeded (429); on either nothing is stored. The front ends only offer the
    user's own teams; a team the user is not a member of here is a programming error (PermissionError).
    """
    if team is not None and not user_teams(user).filter(pk=team.pk).exists():
        raise PermissionError(f"{user} is not a member of team {team.name!r}.")
    staged = stage_upload(uploaded_file, kind, benchmark_slugs)
    try:
        with transaction.atomic():
            lock_user(user)
            check_quotas(user, staged.benchmarks)
            submission = Submission.objects.create(
                owner=user, team=team, kind=staged.kind, **{k: metadata.get(k) or "" for k in METADATA_FIELDS}
            )
            submission.benchmarks.set(staged.benchmarks)
            staged.commit(submission)
            submission.save(update_fields=["upload", "upload_sha256", "upload_size"])
            transaction.on_commit(lambda: _start_evaluation(submission.pk))
    except BaseException:
        staged.discard()
        raise
    return submission


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
    Submission.objects.filter(pk=submission.pk).update(is_public=published)
    submission.is_public = published
