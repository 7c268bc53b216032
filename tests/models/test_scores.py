"""MPE / hand MPE integrity: which results a score may be derived from (issue 12 High 2, issue 10 "MPE integrity")."""
import pytest

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.leaderboard import overall_leaderboard
from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from leaderboard.submissions.scores import compute_scores, recompute_scores

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
