"""A benchmark imported from the staff page by a real Celery worker (issue 21): progress to the end, the report on
the page, a failing bundle that changes nothing, and the worker's re-score report."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, BenchmarkImport
from leaderboard.storage import GROUND_TRUTH, local_path
from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from tests.host_imports import form_data, gt_file, zip_bundle

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_the_page_imports_through_a_worker_and_a_failure_changes_nothing(start_worker, wait, tmp_path):
    start_worker("importer")
    staff = Client()
    staff.force_login(User.objects.create_user("host", is_staff=True))
    outsider = Client()
    outsider.force_login(User.objects.create_user("eve"))

    def imported(response) -> BenchmarkImport:
        assert response.status_code == 302, response.content[:2000]
        pk = int(response["Location"].rstrip("/").rsplit("/", 1)[1])
        return wait(lambda: BenchmarkImport.objects.filter(pk=pk).exclude(state__in=("queued", "running")).first(),
                    30, f"import {pk} to end")

    first = imported(staff.post("/host/import/", form_data(
        "worker-site", bundle=zip_bundle({"gt.npz": gt_file(tmp_path)}), source_path="gt.npz")))
    assert first.state == "succeeded", first.error
    page = staff.get(f"/host/imports/{first.pk}/").content.decode()
    assert "Benchmark &#x27;worker-site&#x27; imported: 12 samples." in page and 'style="width: 100%"' in page
    assert "split test: 6 samples, HIDDEN" in page and "Reveal a split (test hidden)" in page
    benchmark = Benchmark.objects.get(slug="worker-site")
    gt_bytes = local_path(GROUND_TRUTH, benchmark.gt_path).read_bytes()
    assert outsider.get(f"/host/imports/{first.pk}/").status_code == 403

    submission = Submission.objects.create(owner=User.objects.create_user("ann"), method_name="FastBody",
                                           status=Status.FINISHED)
    BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split="dev", primary_value=40.0,
                                   metrics={"mpvpe_all": 40.0})
    # Another GT whose split names the listed hidden split lacks: refused, the benchmark and its GT as they were.
    other = gt_file(tmp_path, betas_shift=0.5, name="other.npz")
    failed = imported(staff.post("/host/import/", form_data(
        "worker-site", name="Renamed", bundle=zip_bundle({"gt.npz": other}), source_path="gt.npz", hidden="listed",
        hidden_splits="final")))
    assert failed.state == "failed" and "Hidden split(s) ['final'] not in the GT splits" in failed.error
    assert "Nothing was changed" in staff.get(f"/host/imports/{failed.pk}/").content.decode()
    benchmark.refresh_from_db()
    assert benchmark.name == "Worker-Site" and local_path(GROUND_TRUTH, benchmark.gt_path).read_bytes() == gt_bytes

    # The same GT with dev hidden: the board figure of the earlier result goes (dev -> test, hidden), said per metric.
    moved = imported(staff.post("/host/import/", form_data(
        "worker-site", bundle=zip_bundle({"gt.npz": other}), source_path="gt.npz", hidden="listed", hidden_splits="dev")))
    assert moved.state == "succeeded", moved.error
    assert moved.changes["moves"] == [{"submission_id": submission.pk, "method": "FastBody", "before": 40.0,
                                       "after": None, "metric": "worker-site board (mpvpe_all on dev -> mpvpe_all on test)"}]
    assert "GT changed (sha256" in moved.report
