"""Celery task sending a submission's "finished/failed" email (queue: finalize, the default queue)."""
from __future__ import annotations

import smtplib

from celery import shared_task


@shared_task(bind=True, name="workers.notify.notify_submission_final", acks_late=True,
             autoretry_for=(smtplib.SMTPException, ConnectionError, TimeoutError), retry_backoff=30, max_retries=5)
def notify_submission_final(self, submission_id: int) -> bool:
    from leaderboard.submissions.models import Submission
    from leaderboard.submissions.notifications import send_final_notification

    submission = Submission.objects.select_related("owner").filter(pk=submission_id).first()
    if submission is None:
        return False
    return send_final_notification(submission)
