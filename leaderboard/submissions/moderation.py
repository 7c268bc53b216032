"""Host moderation (issue 24): unpublish or hide a submission with a reason; the owner is told; an audit trail.

"Unpublish" takes it off the public boards (the owner may publish it again); "hide" does too and keeps the owner
from publishing it until a host lifts it ("unhide"). Every action is a ModerationAction row (who, when, what,
why), shown in the admin, and the reason is emailed to the owner when their address is verified
(``accounts.verification.may_email``: the reason is text a host wrote, but the rule is the same for every mail).
"""
from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction

from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions.models import ModerationAction, Submission

log = logging.getLogger(__name__)
Kind = ModerationAction.Kind
SUBJECTS = {Kind.UNPUBLISH: "unpublished by the hosts", Kind.HIDE: "hidden by the hosts",
            Kind.UNHIDE: "may be published again"}


def moderate(submission: Submission, action: str, reason: str, actor) -> ModerationAction:
    """Apply ``action`` (a ModerationAction.Kind) with a non-empty ``reason``; record it; tell the owner."""
    reason = reason.strip()
    if not reason:
        raise ValueError("A reason is required: the owner is told it.")
    fields = {Kind.UNPUBLISH: {"is_public": False}, Kind.HIDE: {"is_public": False, "is_hidden": True},
              Kind.UNHIDE: {"is_hidden": False}}[Kind(action)]
    with transaction.atomic():
        Submission.objects.filter(pk=submission.pk).update(**fields)
        record = ModerationAction.objects.create(submission=submission, actor=actor, action=action, reason=reason)
        bump_version()
    for name, value in fields.items():
        setattr(submission, name, value)
    record.owner_notified = _tell_owner(submission, record)
    if record.owner_notified:
        ModerationAction.objects.filter(pk=record.pk).update(owner_notified=True)
    return record


def _tell_owner(submission: Submission, record: ModerationAction) -> bool:
    from leaderboard.accounts.verification import may_email

    if not may_email(submission.owner):
        return False
    url = settings.SITE_URL.rstrip("/") + submission.get_absolute_url()
    body = (f"Your submission {submission.method_name} was {record.get_action_display().lower()} by the hosts of the "
            f"EHPS Leaderboard.\n\nReason:\n{record.reason}\n\nDetails: {url}\n")
    try:
        send_mail(f"[EHPS Leaderboard] {submission.method_name}: {SUBJECTS[Kind(record.action)]}", body,
                  settings.DEFAULT_FROM_EMAIL, [submission.owner.email])
    except Exception:  # the action stands; the audit row says the mail did not go
        log.exception("could not email the owner of submission %s about moderation", submission.pk)
        return False
    return True
