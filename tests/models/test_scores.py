"""MPE / hand MPE integrity: which results a score may be derived from (issue 12 High 2, issue 10 "MPE integrity")."""
from unittest import mock

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.leaderboard import overall_leaderboard
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission
from leaderboard.submissions.scores import (
    REPORTED_PROTOCOL, Coverage, CoverageEntry, compute_scores, coverage_groups, current_coverage, recompute_all_scores, recompute_scores, submission_coverage,
)

VISIBLE = {"v1": 40.0, "v2": 50.0, "v3": 60.0}
HIDDEN_VALUE = 123.0


def make_bench(slug: str, splits: dict[str, tuple[bool, bool]]) -> Benchmark:
    """``splits``: name -> (is_revealed, is_ranking)."""
    benchmark = Benchmark.objects.create(slug=slug, name=slug, gt_path=f"gt/{slug}/gt.npz")
    for name, (revealed, ranking) in splits.items():
        Split.objects.create(benchmark=benchmark, name=name, is_revealed=revealed, is_ranking=ranking)
    return benchmark


def add_result(submission: Submission, benchmark: Benchmark, split: str, value: float) -> None:
    metrics = {"mpvpe_all": value, "mpvpe_hand": value / 2, "pa_mpvpe_hand": value / 4}
    BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split=split, metrics=metrics,
                                   primary_value=value)


@pytest.fixture
def visible_benchmarks(db) -> list[Benchmark]:
    return [make_bench(slug, {"test": (True, True)}) for slug in VISIBLE]


@pytest.fixture
def staff_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True))
    return client


def finished(owner) -> Submission:
    return Submission.objects.create(owner=owner, method_name="m", status=Status.FINISHED, is_public=True)


def test_a_benchmark_whose_only_split_is_hidden_gives_no_mpe(alice, visible_benchmarks):
    """The attack: 4·MPE − (three visible values) = the hidden split's value. MPE must stay empty instead."""
    hidden = make_bench("only-hidden", {"test": (False, True)})
    submission = finished(alice)
    for benchmark in visible_benchmarks:
        add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
    add_result(submission, hidden, "test", HIDDEN_VALUE)

    scores = recompute_scores(submission)
    submission.refresh_from_db()
    for value in (scores.mpe, scores.hand_mpe, scores.pa_hand_mpe, submission.mpe, submission.hand_mpe):
        assert value is None
    # ... and so nobody can subtract their way to the hidden value from a published row either
    [row] = overall_leaderboard()
    assert row.mpe is None and row.hand_mpe is None and "only-hidden" not in row.primary


def test_hidden_ranking_split_is_not_replaced_by_another_split(alice, visible_benchmarks):
    """A revealed dev split does not stand in for the hidden ranking split: MPE waits for the reveal."""
    bench = make_bench("dev-and-test", {"dev": (True, False), "test": (False, True)})
    submission = finished(alice)
    for benchmark in visible_benchmarks:
        add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
    add_result(submission, bench, "dev", 70.0)
    add_result(submission, bench, "test", HIDDEN_VALUE)
    assert compute_scores(submission).mpe is None

    Split.objects.filter(benchmark=bench, name="test").update(is_revealed=True)
    revealed = compute_scores(submission)
    assert revealed.mpe == pytest.approx((sum(VISIBLE.values()) + HIDDEN_VALUE) / 4)


def test_mpe_over_revealed_ranking_splits(alice, visible_benchmarks):
    submission = finished(alice)
    for benchmark in visible_benchmarks:
        add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
    scores = compute_scores(submission)
    assert scores.mpe == pytest.approx(50.0)
    assert scores.hand_mpe == pytest.approx(25.0) and scores.pa_hand_mpe == pytest.approx(12.5)


# ------------------------------------------------------------------ recomputed whenever the definition changes

@pytest.fixture
def scored(alice, visible_benchmarks) -> Submission:
    """A finished submission with results on the three visible benchmarks, its scores stored."""
    submission = finished(alice)
    for benchmark in visible_benchmarks:
        add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
    recompute_scores(submission)
    submission.refresh_from_db()
    assert submission.mpe == pytest.approx(50.0)
    return submission


def test_benchmark_flag_change_refreshes_stored_mpe_after_commit(scored, visible_benchmarks, django_capture_on_commit_callbacks):
    v3 = visible_benchmarks[2]
    with django_capture_on_commit_callbacks(execute=True):
        v3.counts_toward_mpe = False
        v3.save()
    scored.refresh_from_db()
    assert scored.mpe == pytest.approx(45.0)
    assert submission_coverage(scored).benchmarks == ("v1", "v2")


def test_new_mpe_benchmark_without_a_result_empties_mpe(scored, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_bench("v4", {"test": (True, True)})
    scored.refresh_from_db()
    assert scored.mpe is None and scored.score_coverage == {} and scored.mpe_coverage_key == ""


def test_hiding_a_split_and_revealing_it_through_the_admin_action(scored, visible_benchmarks, staff_client,
                                                                  django_capture_on_commit_callbacks):
    split = Split.objects.get(benchmark=visible_benchmarks[0], name="test")
    with django_capture_on_commit_callbacks(execute=True):
        split.is_revealed = False
        split.save()
    scored.refresh_from_db()
    assert scored.mpe is None
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/admin/benchmarks/split/", {"action": "reveal_splits", "confirm": "yes",
                                                                  "_selected_action": [split.pk]})
    assert response.status_code == 302
    scored.refresh_from_db()
    assert scored.mpe == pytest.approx(50.0)


def test_several_changes_in_one_transaction_refresh_once(scored, visible_benchmarks, django_capture_on_commit_callbacks):
    runs = []
    with mock.patch("leaderboard.submissions.scores.recompute_all_scores", side_effect=lambda: runs.append(1)):
        with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
            for benchmark in visible_benchmarks:
                benchmark.display_order += 1
                benchmark.save()
                Split.objects.get(benchmark=benchmark).save()
    assert runs == [1]


def test_refresh_leaves_reported_rows_and_unchanged_rows_alone(scored, alice, django_capture_on_commit_callbacks):
    reported = Submission.objects.create(owner=alice, method_name="paper", status=Status.FINISHED,
                                         baseline_source=BaselineSource.REPORTED, mpe=77.0)
    assert recompute_all_scores() == []  # nothing changed since the fixture stored the scores
    Submission.objects.filter(pk=scored.pk).update(mpe=1.0)  # drifted
    assert recompute_all_scores() == [scored.pk]
    reported.refresh_from_db()
    assert reported.mpe == 77.0


# ------------------------------------------------------------------ parts, coverage and comparable groups

def test_hand_mpe_averages_only_benchmarks_with_hand_gt(alice, visible_benchmarks):
    body_only = make_bench("body-only", {"test": (True, True)})
    body_only.gt_parts, body_only.counts_toward_hand_mpe = ["body"], False
    body_only.save()
    submission = finished(alice)
    for benchmark in visible_benchmarks:
        add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
    add_result(submission, body_only, "test", 90.0)
    scores = compute_scores(submission)
    assert scores.mpe == pytest.approx((150.0 + 90.0) / 4)
    assert scores.hand_mpe == pytest.approx(25.0)
    assert scores.coverage["hand_mpe"].benchmarks == ("v1", "v2", "v3")
    assert "mpvpe_hand" not in body_only.applicable_metrics() and "mpjpe_body" in body_only.applicable_metrics()


def test_a_benchmark_flagged_for_hand_mpe_must_have_hand_gt(db):
    benchmark = Benchmark(slug="b", name="b", gt_path="gt/b/gt.npz", gt_parts=["body"], counts_toward_hand_mpe=True)
    with pytest.raises(ValidationError, match="Hand MPE needs hand GT"):
        benchmark.full_clean()
    benchmark.gt_parts = ["body", "toes"]
    with pytest.raises(ValidationError, match="toes"):
        benchmark.full_clean()


def test_coverage_records_protocols_and_groups_only_equal_coverage(alice, visible_benchmarks):
    def submit(version: str) -> Submission:
        submission = finished(alice)
        for benchmark in visible_benchmarks:
            add_result(submission, benchmark, "test", VISIBLE[benchmark.slug])
        submission.results.filter(benchmark__slug="v3").update(protocol="smplx-generic", protocol_version=version)
        submission.results.exclude(benchmark__slug="v3").update(protocol="smplx-generic", protocol_version="1")
        recompute_scores(submission)
        submission.refresh_from_db()
        return submission

    a, b, c = submit("1"), submit("1"), submit("2")
    assert a.mpe_coverage_key == b.mpe_coverage_key != c.mpe_coverage_key != ""
    coverage = submission_coverage(c)
    assert coverage.label == "v1/test, v2/test (smplx-generic v1); v3/test (smplx-generic v2)"
    published = Coverage.of(CoverageEntry(slug, "test", REPORTED_PROTOCOL, "Paper, Table 1") for slug in VISIBLE)
    reported = Submission.objects.create(owner=alice, method_name="paper", status=Status.FINISHED, mpe=60.0,
                                         baseline_source=BaselineSource.REPORTED,
                                         score_coverage={"mpe": published.to_json()}, mpe_coverage_key=published.key)
    assert recompute_scores(reported).coverage["mpe"] == published  # copied figures keep their coverage
    assert published.label == "v1/test, v2/test, v3/test (as published in Paper, Table 1)"
    none = finished(alice)
    groups = coverage_groups([c, reported, none, a, b])
    assert [[s.pk for s in g.submissions] for g in groups] == [[a.pk, b.pk], [c.pk], [reported.pk], [none.pk]]
    assert [g.is_reported for g in groups] == [False, False, True, False]
    assert [(m.slug, m.split) for m in current_coverage()] == [("v1", "test"), ("v2", "test"), ("v3", "test")]


def test_reimport_that_hides_the_ranking_split_empties_mpe(alice, django_capture_on_commit_callbacks):
    """import_benchmark saves the benchmark and its splits in one transaction: the scores follow after commit."""
    from leaderboard.benchmarks.testing import make_benchmark

    with django_capture_on_commit_callbacks(execute=True):
        benchmark, _ = make_benchmark("re-imported", num_samples=6, seed=1)
    submission = finished(alice)
    add_result(submission, benchmark, "test", 42.0)
    recompute_scores(submission)
    submission.refresh_from_db()
    assert submission.mpe == 42.0
    with django_capture_on_commit_callbacks(execute=True):
        make_benchmark("re-imported", num_samples=6, seed=1, hidden_splits=["test"])
    submission.refresh_from_db()
    assert submission.mpe is None and submission.mpe_coverage_key == ""
