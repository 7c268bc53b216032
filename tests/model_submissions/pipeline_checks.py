"""What every model-submission test does: submit through the REST API, then check what users see afterwards."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
from django.test import Client
from django.utils.html import escape
from rest_framework.test import APIClient

from leaderboard.submissions.models import Status, Submission

REFERENCE_CHUNK_SIZE = 4  # chunk size for the reference evaluation; metrics must not depend on it


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def submit_model(user, artifact: Path, kind: str, slug: str) -> Submission:
    """POST /api/v1/submissions/ (multipart), as the CLI and scripts do; returns the created submission."""
    with open(artifact, "rb") as upload:
        response = api_client(user).post(
            "/api/v1/submissions/",
            {"file": upload, "kind": kind, "benchmark": slug, "method_name": f"tiny {kind}"},
            format="multipart",
        )
    assert response.status_code == 201, response.content
    assert response.json()["kind"] == kind
    return Submission.objects.get(uuid=response.json()["id"])


def api_view(user, submission: Submission):
    return api_client(user).get(f"/api/v1/submissions/{submission.uuid}/")


def assert_scored_like_the_evaluator(submission: Submission, benchmark) -> None:
    """Finished, with one BenchmarkResult per split holding every metric, equal to the evaluator run directly."""
    from evaluator.metrics import METRICS
    from workers.synthetic import direct_means

    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, (submission.error_message, submission.log)
    assert submission.error_message == ""
    expected = direct_means(submission, benchmark, REFERENCE_CHUNK_SIZE)
    results = {r.split: r for r in submission.results.filter(benchmark=benchmark)}
    assert set(results) == set(expected) == {"test"}
    for split, result in results.items():
        assert set(result.metrics) == set(METRICS)
        assert all(math.isfinite(v) and v > 0 for v in result.metrics.values()), result.metrics  # errors, not GT
        assert result.metrics == pytest.approx(expected[split], rel=1e-4)
        assert result.num_samples == benchmark.num_samples
        assert result.primary_value == pytest.approx(result.metrics[benchmark.primary_metric])


def assert_on_leaderboard_only_once_published(owner, submission: Submission, slug: str) -> None:
    """Absent from the benchmark leaderboard (API and page) while private; ranked with its metrics once published."""
    def rows() -> dict[str, dict]:
        response = APIClient().get(f"/api/v1/leaderboard/{slug}/")
        assert response.status_code == 200
        return {row["id"]: row for row in response.json()["rows"]}

    def page() -> str:
        return Client().get(f"/benchmarks/{slug}/").content.decode()

    assert str(submission.uuid) not in rows() and submission.method_name not in page()
    response = api_client(owner).post(f"/api/v1/submissions/{submission.uuid}/publish/")
    assert response.status_code == 200, response.content
    row = rows()[str(submission.uuid)]
    assert row["rank"] == 1 and row["metrics"] == pytest.approx(submission.results.get(split="test").metrics)
    assert submission.method_name in page()


def staff_user():
    from django.contrib.auth.models import User

    return User.objects.get_or_create(username="staff-reader", defaults={"is_staff": True})[0]


def assert_log_staff_only(owner, other, submission: Submission, line: str) -> None:
    """``line`` (no HTML-escaped characters) is in the model log that staff read; never for its owner or others.

    The model ran on held-out images: whatever it printed may carry them.
    """
    staff = staff_user()
    assert line in api_view(staff, submission).json()["log"]
    staff_page = page_client(staff).get(submission.get_absolute_url()).content.decode()
    assert "Model log" in staff_page and line in staff_page

    owner_page = page_client(owner).get(submission.get_absolute_url())
    assert owner_page.status_code == 200
    assert api_view(owner, submission).json()["log"] is None
    assert line not in owner_page.content.decode() and "Model log" not in owner_page.content.decode()

    other_api = api_view(other, submission)
    other_page = page_client(other).get(submission.get_absolute_url())
    if submission.is_public:  # visible, but without the log
        assert other_api.status_code == 200 and other_api.json()["log"] is None
        assert other_page.status_code == 200 and line not in other_page.content.decode()
        assert "Model log" not in other_page.content.decode()
    else:  # a private submission does not exist for others
        assert other_api.status_code == 404 and other_page.status_code == 404


def assert_failed_for_the_owner(owner, submission: Submission, message: str) -> None:
    """Failed with exactly ``message``, shown to the owner by the API and the submission page; no results."""
    submission.refresh_from_db()
    assert submission.status == Status.FAILED, submission.log
    assert submission.error_message == message
    assert api_view(owner, submission).json()["error_message"] == message
    page = page_client(owner).get(submission.get_absolute_url()).content.decode()
    assert escape(message.split(":")[-1].strip()) in page
    assert not submission.results.exists()
