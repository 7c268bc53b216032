"""Bump the leaderboard version when a saved or deleted row can change what a public board shows.

Model saves and deletes arrive here; ``QuerySet.update()`` sends no signal, so the code paths that change boards
that way (finalize, publish, score recompute, split reveal) call ``board_cache.bump_version()`` themselves.
"""
from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save

from leaderboard.benchmarks.models import Benchmark, Phase, Split
from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions.models import BenchmarkResult, Status, Submission, Team
from leaderboard.submissions.scores import scores_changed


def on_board(submission: Submission) -> bool:
    """Whether the submission is listed on the public boards (see ``leaderboard.leaderboard_submissions``)."""
    return bool(submission.baseline_source) or (submission.is_public and submission.status == Status.FINISHED)


def _submission_changed(sender, instance: Submission, **kwargs) -> None:
    if on_board(instance) or kwargs.get("signal") is post_delete:
        bump_version()


def _result_changed(sender, instance: BenchmarkResult, **kwargs) -> None:
    listed = Submission.objects.filter(pk=instance.submission_id).values_list("baseline_source", "is_public", "status").first()
    if listed is None or listed[0] or (listed[1] and listed[2] == Status.FINISHED):
        bump_version()  # a deleted submission's results (cascade) or a listed one's


def _always(sender, **kwargs) -> None:
    bump_version()


def _user_changed(sender, instance, created: bool, update_fields=None, **kwargs) -> None:
    # Every login saves last_login; only a renamed existing user can change what a board shows.
    if not created and (update_fields is None or "username" in update_fields):
        bump_version()


def _scores_changed(sender, submission_ids, **kwargs) -> None:
    bump_version()  # scores.recompute_all_scores bulk-updated stored scores after a benchmark or split change


def connect() -> None:
    for signal in (post_save, post_delete):
        signal.connect(_submission_changed, sender=Submission, dispatch_uid=f"lb-submission-{signal is post_save}")
        signal.connect(_result_changed, sender=BenchmarkResult, dispatch_uid=f"lb-result-{signal is post_save}")
        for model in (Benchmark, Split, Phase, Team):
            signal.connect(_always, sender=model, dispatch_uid=f"lb-{model.__name__}-{signal is post_save}")
    post_save.connect(_user_changed, sender=get_user_model(), dispatch_uid="lb-user")
    scores_changed.connect(_scores_changed, dispatch_uid="lb-scores")
