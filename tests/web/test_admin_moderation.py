"""Issue 24 ("Also found by a new user"): staff could type over computed MPE and metric values in the admin.
Computed fields are read-only; moderation is unpublish or hide with a reason the owner is told, kept in an audit
trail that the admin shows."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from django.urls import reverse

from leaderboard.accounts.verification import confirm_address
from leaderboard.submissions.models import BenchmarkResult, ModerationAction, Status, Submission


@pytest.fixture
def host(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("host", "host@example.org", "pw-host-123"))
    return client


@pytest.fixture
def published(bench, alice) -> Submission:
    alice.email = "alice@example.org"
    alice.save()
    submission = Submission.objects.create(owner=alice, method_name="Net", status=Status.FINISHED, is_public=True,
                                           mpe=50.0, hand_mpe=30.0)
    BenchmarkResult.objects.create(submission=submission, benchmark=bench[0], split="test", metrics={"pve_all": 50.0},
                                   primary_value=50.0, num_samples=10)
    return submission


def change_url(submission: Submission) -> str:
    return reverse("admin:submissions_submission_change", args=[submission.pk])


def test_computed_fields_cannot_be_typed_over(host, published):
    html = host.get(change_url(published)).content.decode()
    for field in ("mpe", "hand_mpe", "pa_hand_mpe", "is_public", "results-0-primary_value", "results-0-metrics"):
        assert f'name="{field}"' not in html, field
    host.post(change_url(published), {
        "owner": published.owner.pk, "method_name": "Net", "kind": "predictions", "mpe": "1.0", "is_public": "",
        "results-TOTAL_FORMS": "1", "results-INITIAL_FORMS": "1", "results-MIN_NUM_FORMS": "0",
        "results-MAX_NUM_FORMS": "1000", "results-0-id": published.results.get().pk, "results-0-primary_value": "1.0",
        "moderation-TOTAL_FORMS": "0", "moderation-INITIAL_FORMS": "0", "moderation-MIN_NUM_FORMS": "0",
        "moderation-MAX_NUM_FORMS": "1000"})
    published.refresh_from_db()
    assert published.mpe == 50.0 and published.is_public and published.results.get().primary_value == 50.0


def moderate(host: Client, submission: Submission, action: str, reason: str):
    return host.post(reverse("admin:submissions_submission_changelist"), {
        "action": action, "_selected_action": [submission.pk], "reason": reason, "apply": "1"}, follow=True)


def test_hide_needs_a_reason_is_recorded_and_told_to_a_verified_owner(host, published):
    assert moderate(host, published, "hide_selected", "  ").status_code == 200  # asked again, nothing done
    published.refresh_from_db()
    assert published.is_public and not ModerationAction.objects.exists()

    confirm_address(published.owner)
    moderate(host, published, "hide_selected", "Predictions copied from the GT release.")
    published.refresh_from_db()
    assert not published.is_public and published.is_hidden
    record = ModerationAction.objects.get()
    assert (record.action, record.actor.username, record.owner_notified) == ("hide", "host", True)
    assert len(mail.outbox) == 1 and "Predictions copied from the GT release." in mail.outbox[0].body
    assert mail.outbox[0].to == ["alice@example.org"]
    # The owner cannot publish it again; the audit trail is in the admin.
    owner = Client()
    owner.force_login(published.owner)
    owner.post(reverse("submission-publish", args=[published.uuid]))
    published.refresh_from_db()
    assert not published.is_public
    trail = host.get(reverse("admin:submissions_moderationaction_changelist")).content.decode()
    assert "Predictions copied from the GT release." in trail
    assert host.get(reverse("admin:submissions_moderationaction_add")).status_code == 403


def test_unpublish_of_an_unverified_owner_is_recorded_but_not_mailed(host, published):
    moderate(host, published, "unpublish_selected", "Wrong benchmark.")
    published.refresh_from_db()
    assert not published.is_public and not published.is_hidden
    assert ModerationAction.objects.get().owner_notified is False and mail.outbox == []
