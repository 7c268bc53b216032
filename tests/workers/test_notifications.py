"""Email to the owner when a submission finishes or fails, sent by a Celery task once the transition commits."""
from __future__ import annotations

import pytest
from django.core import mail

from leaderboard.accounts.verification import confirm_address
from leaderboard.benchmarks.models import Split
from leaderboard.benchmarks.testing import make_benchmark
from leaderboard.submissions.models import BenchmarkResult, Status, Submission


@pytest.fixture
def bench(db):
    return make_benchmark("bench-w", num_samples=10, seed=2)


@pytest.fixture
def running(alice, bench):
    alice.email = "alice@example.org"
    alice.save()
    confirm_address(alice)  # only verified addresses are mailed (tests/security/test_email_trust.py)
    submission = Submission.objects.create(owner=alice, method_name="Mailed-Net", status=Status.RUNNING, mpe=41.25)
    submission.benchmarks.add(bench[0])
    return submission


def test_finished_submission_emails_its_owner_with_a_link(running, bench, eager, django_capture_on_commit_callbacks, settings):
    settings.SITE_URL = "https://lb.example.org"
    BenchmarkResult.objects.create(submission=running, benchmark=bench[0], split="test", metrics={"mpvpe_all": 41.25},
                                   primary_value=41.25, num_samples=10)
    with django_capture_on_commit_callbacks(execute=True):
        running.transition(Status.FINISHED)
        assert mail.outbox == []  # nothing before the transition is committed
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "[EHPS Leaderboard] Mailed-Net: finished (MPE 41.2 mm)"
    assert f"https://lb.example.org/submissions/{running.uuid}/" in message.body
    assert "Bench W / test: mpvpe_all = 41.25" in message.body and "until you publish it" in message.body


def test_failed_submission_email_says_why(running, eager, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        running.transition(Status.FAILED, error_message="bench-w.npz: missing predictions for sample ids 's3'")
    assert mail.outbox[0].subject == "[EHPS Leaderboard] Mailed-Net: evaluation failed"
    assert "missing predictions for sample ids 's3'" in mail.outbox[0].body


def test_hidden_split_results_are_not_mailed(running, bench, eager, django_capture_on_commit_callbacks):
    Split.objects.create(benchmark=bench[0], name="secret", num_samples=3, is_revealed=False)
    BenchmarkResult.objects.create(submission=running, benchmark=bench[0], split="secret", metrics={"mpvpe_all": 77.7},
                                   primary_value=77.7, num_samples=3)
    with django_capture_on_commit_callbacks(execute=True):
        running.transition(Status.FINISHED)
    assert "77.7" not in mail.outbox[0].body and "secret" not in mail.outbox[0].body


def test_no_mail_when_cancelled_without_an_address_or_switched_off(running, alice, eager,
                                                                   django_capture_on_commit_callbacks, settings):
    with django_capture_on_commit_callbacks(execute=True):
        running.transition(Status.CANCELLED)
    other = Submission.objects.create(owner=alice, method_name="x", status=Status.RUNNING)
    settings.EMAIL_NOTIFICATIONS = False
    with django_capture_on_commit_callbacks(execute=True):
        other.transition(Status.FINISHED)
    settings.EMAIL_NOTIFICATIONS = True
    alice.email = ""
    alice.save()
    third = Submission.objects.create(owner=alice, method_name="y", status=Status.RUNNING)
    with django_capture_on_commit_callbacks(execute=True):
        third.transition(Status.FAILED)
    assert mail.outbox == []


def test_a_broker_outage_does_not_fail_the_transition(running, django_capture_on_commit_callbacks, monkeypatch):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("workers.notify.notify_submission_final.delay", down)
    with django_capture_on_commit_callbacks(execute=True):
        running.transition(Status.FINISHED)
    assert Submission.objects.get(pk=running.pk).status == Status.FINISHED
