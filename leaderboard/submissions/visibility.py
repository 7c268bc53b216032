"""What each user may see: submissions, their results and their files.

Rules (enforced here and nowhere else, so views stay thin):
- a private submission is visible to its owner, to the members of its team (read-only) and to staff; others get a 404
  (not 403) so its existence does not leak;
- acting on a submission (publish, cancel, download the upload) is for its owner and staff only, not its team;
- a model run's log is for staff only: the model ran on held-out images and may have printed them;
- published submissions and baselines are visible to everyone;
- results on a split that is not revealed yet are visible to staff only (not even to the owner: that is the point of a hidden split);
  one rule, hidden unless revealed (``revealed_splits``): a result is shown only when a Split row of its benchmark
  and split name says revealed. A result whose split has no row (a re-import dropped or renamed it) is hidden too.
  Every reader goes through it: the API and results.json (``readable_split_pairs``), pages and emails
  (``visible_results``), the per-sample reader (``revealed_split_names``) and the boards (revealed ranking splits);
- results of a submission made in a phase that shows results only after it ends (``Phase.results_before_end`` off)
  are visible to staff only until that end (``hiding_phases``): not its results on that benchmark (API, pages,
  emails: ``visible_results`` / ``readable_results``; per-sample files), not its scores (``mask_hidden_scores``: MPE
  would give them away by arithmetic), and it is left off every board (``phase_hidden_q``). The leaderboard
  version folds in each phase end passed (``board_cache.with_clock``), so no cached board outlives the rule;
- ground truth is never visible through the web or API (no view reads ``Benchmark.gt_path`` for output).
"""
from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from leaderboard.benchmarks.models import Phase, Split
from leaderboard.submissions.models import BenchmarkResult, Submission, Team


def is_staff(user) -> bool:
    return bool(user and user.is_authenticated and user.is_staff)


def public_submission_q() -> Q:
    """Submissions anyone may see: published by their owner, or a baseline."""
    return Q(is_public=True) | ~Q(baseline_source="")


def user_teams(user) -> QuerySet[Team]:
    """The teams a user may submit for and whose private submissions they may read."""
    if user is None or not user.is_authenticated:
        return Team.objects.none()
    return Team.objects.filter(members=user)


def visible_submissions(user) -> QuerySet[Submission]:
    qs = Submission.objects.all()
    if is_staff(user):
        return qs
    if user is not None and user.is_authenticated:
        # A subquery rather than a join on team__members, so a submission is never listed twice.
        return qs.filter(public_submission_q() | Q(owner=user) | Q(team__in=user_teams(user)))
    return qs.filter(public_submission_q())


def owned_submissions(user) -> QuerySet[Submission]:
    """Submissions the user may act on (cancel, publish, download the upload): their own, not their team's; staff act on any."""
    if is_staff(user):
        return Submission.objects.all()
    if user is None or not user.is_authenticated:
        return Submission.objects.none()
    return Submission.objects.filter(owner=user)


def can_manage(user, submission: Submission) -> bool:
    return is_staff(user) or (user is not None and user.is_authenticated and submission.owner_id == user.pk)


def revealed_splits() -> QuerySet[Split]:
    """The splits whose results anyone may read: hidden unless revealed (no Split row: hidden)."""
    return Split.objects.filter(is_revealed=True)


def revealed_split_names(benchmark) -> set[str]:
    return set(revealed_splits().filter(benchmark=benchmark).values_list("name", flat=True))


def readable_split_pairs(user) -> frozenset[tuple[int, str]] | None:
    """(benchmark id, split name) pairs whose results ``user`` may read, one query, for filtering in Python;
    None for staff (everything)."""
    if is_staff(user):
        return None
    return frozenset(revealed_splits().values_list("benchmark_id", "name"))


def result_is_readable(pairs: frozenset[tuple[int, str]] | None, result: BenchmarkResult) -> bool:
    return pairs is None or (result.benchmark_id, result.split) in pairs


def hiding_phases(now: datetime | None = None) -> QuerySet[Phase]:
    """Phases whose submissions' results are hidden now: shown only after an end still ahead (or not set)."""
    now = now or timezone.now()
    return Phase.objects.filter(results_before_end=False).filter(Q(ends_at__isnull=True) | Q(ends_at__gt=now))


def phase_hidden_q(submission_ref: str = "pk") -> Q:
    """Submissions with results hidden by a phase now (``submission_ref``: the submission's id in the query)."""
    return Q(Exists(hiding_phases().filter(submissions=OuterRef(submission_ref))))


def phase_hidden_benchmarks(submission: Submission, now: datetime | None = None) -> frozenset[int]:
    """Benchmarks on which ``submission``'s results are hidden by its phase now (reads prefetched ``phases``)."""
    now = now or timezone.now()
    return frozenset(p.benchmark_id for p in submission.phases.all() if p.hides_results(now))


def visible_results(user, results: QuerySet[BenchmarkResult] | None = None) -> QuerySet[BenchmarkResult]:
    """Results the user may read: on revealed splits only and not hidden by a phase, for everyone but staff."""
    qs = BenchmarkResult.objects.all() if results is None else results
    if is_staff(user):
        return qs
    hidden = hiding_phases().filter(submissions=OuterRef("submission_id"), benchmark_id=OuterRef("benchmark_id"))
    return qs.filter(Exists(revealed_splits().filter(benchmark_id=OuterRef("benchmark_id"), name=OuterRef("split")))) \
        .exclude(Exists(hidden))


def readable_results(user, submission: Submission, pairs: frozenset[tuple[int, str]] | None) -> list[BenchmarkResult]:
    """``visible_results`` over prefetched rows (``pairs`` from ``readable_split_pairs``): no query per submission."""
    if is_staff(user):
        return list(submission.results.all())
    hidden = phase_hidden_benchmarks(submission)
    return [r for r in submission.results.all() if result_is_readable(pairs, r) and r.benchmark_id not in hidden]


SCORE_FIELDS = ("mpe", "hand_mpe", "pa_hand_mpe")


def mask_hidden_scores(user, submission: Submission) -> bool:
    """Blank (in memory, never saved) the scores of a submission whose phase hides results from ``user``; True if it
    did. MPE averages the hidden results, so showing it would give them away."""
    if is_staff(user) or not phase_hidden_benchmarks(submission):
        return False
    for name in SCORE_FIELDS:
        setattr(submission, name, None)
    return True


def can_see_log(user, submission: Submission) -> bool:
    """A model's stdout/stderr may carry the held-out images it read (base64-printed, say): staff only.

    Its owner sees the short failure message the worker wrote (limit hit, exit code, our own checks).
    """
    return is_staff(user)
