from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.models import Status, Submission
from leaderboard.submissions.quotas import QuotaExceeded, check_quotas, day_window


@pytest.fixture
def bench(db) -> Benchmark:
    return Benchmark.objects.create(slug="q-bench", name="Q", gt_path="gt/q-bench/gt.npz")


def submit(owner, bench, status) -> Submission:
    s = Submission.objects.create(owner=owner, method_name="m", status=status)
    s.benchmarks.add(bench)
    return s


@override_settings(SUBMISSIONS_PER_BENCHMARK_PER_DAY=2, MAX_SUBMISSIONS_IN_PROGRESS=10)
def test_daily_quota_ignores_failed_and_cancelled(alice, bench):
    submit(alice, bench, Status.FAILED)
    submit(alice, bench, Status.CANCELLED)
    submit(alice, bench, Status.FINISHED)
    check_quotas(alice, [bench])  # 1 of 2 counted
    submit(alice, bench, Status.FINISHED)
    with pytest.raises(QuotaExceeded) as info:
        check_quotas(alice, [bench])
    exc = info.value
    assert exc.limit == "daily_per_benchmark" and exc.count == 2 and exc.maximum == 2
    assert "q-bench" in exc.message and "2 of 2" in exc.message
    assert "failed and cancelled submissions do not count" in exc.message
    assert "00:00 UTC" in exc.message and exc.as_dict()["resets_at"].endswith("+00:00")


@override_settings(SUBMISSIONS_PER_BENCHMARK_PER_DAY=1, MAX_SUBMISSIONS_IN_PROGRESS=10)
def test_daily_quota_is_per_user_and_resets_next_day(alice, bob, bench):
    old = submit(alice, bench, Status.FINISHED)
    check_quotas(bob, [bench])
    Submission.objects.filter(pk=old.pk).update(created_at=day_window()[0] - timedelta(seconds=1))
    check_quotas(alice, [bench])


@override_settings(MAX_SUBMISSIONS_IN_PROGRESS=2)
def test_in_progress_cap(alice, bench):
    submit(alice, bench, Status.QUEUED)
    submit(alice, bench, Status.RUNNING)
    with pytest.raises(QuotaExceeded) as info:
        check_quotas(alice, [bench])
    assert info.value.limit == "in_progress" and info.value.count == 2
    assert "2 submission(s) in progress (the limit is 2)" in info.value.message


@override_settings(MAX_SUBMISSIONS_IN_PROGRESS=0)
def test_staff_exempt(alice, bench):
    alice.is_staff = True
    check_quotas(alice, [bench])


def test_day_window_is_utc_day():
    start, end = day_window(datetime(2026, 3, 4, 23, 59, tzinfo=timezone.utc))
    assert start == datetime(2026, 3, 4, tzinfo=timezone.utc) and end - start == timedelta(days=1)
