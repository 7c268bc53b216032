"""Email the owner when their submission finishes or fails (Django's send_mail, sent from a Celery task).

``workers.notify`` receives ``events.submission_finalised`` (sent by ``Submission.transition``) and queues the
message once the transition is committed, on the ``finalize`` queue, so a slow mail server never holds up an
evaluation and a rolled-back transition sends nothing. The backend is Django's: the console by default, SMTP when
EMAIL_HOST is set (see settings). This module imports neither the workers nor the models module.
"""
from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail

from leaderboard.submissions.visibility import mask_hidden_scores, visible_results

NOTIFIED_STATUSES = frozenset({"finished", "failed"})


def wants_notification(submission) -> bool:
    """Whether a submission that just reached a final status gets an email (finished or failed; not cancelled)."""
    return submission.status in NOTIFIED_STATUSES and bool(settings.EMAIL_NOTIFICATIONS)


def compose(submission) -> tuple[str, str]:
    """Subject and plain-text body; results on hidden splits are left out (as on the owner's own page)."""
    url = settings.SITE_URL.rstrip("/") + submission.get_absolute_url()
    name = submission.method_name
    if submission.status == "failed":
        subject = f"[EHPS Leaderboard] {name}: evaluation failed"
        body = [f"The evaluation of {name} failed:", "", submission.error_message or "(no reason recorded)", "",
                "Fix the file and submit again; failed submissions do not count toward your daily quota.", ""]
    else:
        mask_hidden_scores(submission.owner, submission)  # a phase showing results only after it ends
        mpe = f" (MPE {submission.mpe:.1f} mm)" if submission.mpe is not None else ""
        subject = f"[EHPS Leaderboard] {name}: finished{mpe}"
        body = [f"{name} has been evaluated. Primary errors (mm, lower is better):", ""]
        results = visible_results(submission.owner, submission.results.select_related("benchmark"))
        for result in results:
            value = "n/a" if result.primary_value is None else f"{result.primary_value:.2f}"
            body.append(f"  {result.benchmark.name} / {result.split}: {result.benchmark.primary_metric} = {value}")
        body += ["", "It stays private until you publish it from its page." if not submission.is_public else "", ""]
    body += [f"Details: {url}", "", "You get this email because you submitted to the EHPS Leaderboard."]
    return subject, "\n".join(body)


def send_final_notification(submission) -> bool:
    """Send the email now; False when the owner has no verified address (nothing to do: the method name is text
    the owner chose, so it goes only to an address they proved is theirs)."""
    from leaderboard.accounts.verification import may_email

    if not may_email(submission.owner):
        return False
    address = submission.owner.email
    subject, body = compose(submission)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [address])
    return True
