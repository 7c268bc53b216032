"""The owner's "finished/failed" email: queued when a submission becomes final, sent by a Celery task (queue:
finalize, the default queue).

``connect`` (called by the submissions app when Django starts) hooks ``queue_final_notification`` to
``events.submission_finalised``; the models send the signal and import nothing of this.
"""
from __future__ import annotations

import logging
import smtplib

from celery import shared_task
from django.db import transaction

from leaderboard.submissions.events import submission_finalised  # a bare Signal: importable before Django's apps

log = logging.getLogger(__name__)


def queue_final_notification(sender, submission, **kwargs) -> None:
    """Queue the owner's notification for a submission that just became final, once that is committed."""
    from leaderboard.submissions.notifications import wants_notification

    if not wants_notification(submission):
        return
    queue_after_commit(notify_submission_final, submission.pk, "notification")


def queue_after_commit(task, submission_id: int, what: str, *args) -> None:
    """Send ``task(submission_id, *args)`` once the current transaction commits (``what`` names it in the log)."""

    def enqueue() -> None:
        try:
            task.delay(submission_id, *args)
        except Exception:  # a broker outage must not fail the evaluation that just ended
            log.exception("could not queue the %s of submission %s", what, submission_id)

    transaction.on_commit(enqueue)


def connect() -> None:
    submission_finalised.connect(queue_final_notification, dispatch_uid="workers.notify.queue_final_notification")


@shared_task(bind=True, name="workers.notify.notify_submission_final", acks_late=True,
             autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError), retry_backoff=30, max_retries=5)
def notify_submission_final(self, submission_id: int) -> bool:
    from leaderboard.submissions.models import Submission
    from leaderboard.submissions.notifications import send_final_notification

    submission = Submission.objects.select_related("owner").filter(pk=submission_id).first()
    if submission is None:
        return False
    return send_final_notification(submission)
