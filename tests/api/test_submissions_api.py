import csv
import io

import pytest
from django.test import override_settings

from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from leaderboard.storage import private_path

URL = "/api/v1/submissions/"


def upload(client, path, **fields):
    with open(path, "rb") as f:
        return client.post(URL, {"file": f, "method_name": "My method", **fields}, format="multipart")


def test_create_requires_authentication(client_for, pred_file):
    response = upload(client_for(), pred_file, benchmark="bench-a")
    assert response.status_code == 401
    assert not Submission.objects.exists()


def test_create_stores_predictions_and_enqueues_after_commit(client_for, alice, pred_file, started, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client_for(alice), pred_file, benchmark="bench-a", paper_url="https://example.org/p")
    assert response.status_code == 201, response.content
    body = response.json()
    submission = Submission.objects.get(uuid=body["id"])
    assert body["status"] == "submitted" and body["benchmarks"] == ["bench-a"]
    assert started.call_args.args == (submission.pk,)
    stored = private_path(submission.predictions_name("bench-a"))
    assert stored.is_file() and stored.read_bytes() == pred_file.read_bytes()
    assert submission.upload.name == submission.predictions_name("bench-a") and len(submission.upload_sha256) == 64


def test_benchmarks_list_exposes_no_private_paths(client_for, bench):
    data = client_for().get("/api/v1/benchmarks/").json()
    assert [b["slug"] for b in data] == ["bench-a"]
    text = str(data)
    for secret in ("gt_path", "gt_sha256", "images_path", "gt.npz", "private"):
        assert secret not in text


@pytest.fixture
def finished(alice, bench):
    benchmark = bench[0]
    s = Submission.objects.create(owner=alice, method_name="Done", status=Status.FINISHED, mpe=42.0, log="secret log")
    s.benchmarks.add(benchmark)
    BenchmarkResult.objects.create(submission=s, benchmark=benchmark, split="test", primary_value=42.0,
                                   metrics={"mpvpe_all": 42.0, "pa_mpvpe_all": 30.0})
    return s


def test_permission_matrix_private_submission(client_for, alice, bob, staff, finished):
    url = f"{URL}{finished.uuid}/"
    assert client_for().get(url).status_code == 404
    assert client_for(bob).get(url).status_code == 404  # 404, not 403: existence does not leak
    assert client_for(bob).get(url + "status/").status_code == 404
    assert client_for(bob).post(url + "publish/").status_code == 404
    assert client_for(bob).post(url + "cancel/").status_code == 404
    owner_view = client_for(alice).get(url).json()
    assert owner_view["results"][0]["metrics"]["mpvpe_all"] == 42.0
    assert owner_view["log"] is None  # a model log may carry held-out images it read: staff only (issue 12)
    staff_view = client_for(staff).get(url).json()
    assert staff_view["log"] == "secret log"
    assert client_for(bob).get(URL).json()["results"] == []  # "my submissions" lists only bob's


def test_publish_makes_it_public_without_the_log(client_for, alice, bob, finished):
    url = f"{URL}{finished.uuid}/"
    assert client_for(alice).post(url + "publish/").json()["is_public"] is True
    seen = client_for(bob).get(url).json()
    assert seen["method_name"] == "Done" and seen["log"] is None and "upload_sha256" not in seen
    rows = client_for().get("/api/v1/leaderboard/").json()["rows"]
    assert [r["method_name"] for r in rows] == ["Done"] and rows[0]["primary"]["bench-a"] == 42.0
    assert client_for(alice).post(url + "unpublish/").json()["is_public"] is False
    assert client_for(bob).get(url).status_code == 404


def test_publish_needs_a_finished_submission_and_cancel_a_running_one(client_for, alice, bench):
    s = Submission.objects.create(owner=alice, method_name="Run", status=Status.RUNNING)
    url = f"{URL}{s.uuid}/"
    assert client_for(alice).post(url + "publish/").status_code == 409
    response = client_for(alice).post(url + "cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    again = client_for(alice).post(url + "cancel/")
    assert again.status_code == 409 and "already cancelled" in again.json()["detail"]


def test_hidden_split_results_are_not_exported(client_for, alice, staff, finished):
    benchmark = finished.benchmarks.get()
    benchmark.splits.create(name="secret", is_revealed=False)
    BenchmarkResult.objects.create(submission=finished, benchmark=benchmark, split="secret", metrics={"mpvpe_all": 1.0})
    finished.is_public = True
    finished.save()
    url = f"{URL}{finished.uuid}/"
    assert {r["split"] for r in client_for(alice).get(url).json()["results"]} == {"test"}
    assert {r["split"] for r in client_for(staff).get(url).json()["results"]} == {"test", "secret"}
    board = client_for().get("/api/v1/leaderboard/bench-a/?split=secret").json()
    assert board["split"] == "test"


def test_leaderboard_csv_export(client_for, alice, finished):
    finished.is_public = True
    finished.save()
    response = client_for().get("/api/v1/leaderboard/bench-a/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0]["method"] == "Done" and rows[0]["mpvpe_all"] == "42.0000" and rows[0]["rank"] == "1"
    overall = client_for().get("/api/v1/leaderboard/?format=csv")
    assert overall.status_code == 200 and "bench-a" in b"".join(overall.streaming_content).decode().splitlines()[0]


def test_schema_is_served(client_for):
    response = client_for().get("/api/v1/schema/")
    assert response.status_code == 200 and b"/api/v1/submissions/" in response.content


@override_settings(SUBMISSIONS_PER_BENCHMARK_PER_DAY=1)
def test_daily_quota_answers_429_and_stores_nothing(client_for, alice, pred_file, started):
    assert upload(client_for(alice), pred_file, benchmark="bench-a").status_code == 201
    response = upload(client_for(alice), pred_file, benchmark="bench-a")
    assert response.status_code == 429
    body = response.json()
    assert body["limit"] == "daily_per_benchmark" and body["count"] == 1 and body["max"] == 1 and body["resets_at"]
    assert "failed and cancelled submissions do not count" in body["detail"] and int(response["Retry-After"]) > 0
    assert Submission.objects.count() == 1


@override_settings(MAX_SUBMISSIONS_IN_PROGRESS=1)
def test_in_progress_cap_answers_429(client_for, alice, pred_file, started):
    assert upload(client_for(alice), pred_file, benchmark="bench-a").status_code == 201
    response = upload(client_for(alice), pred_file, benchmark="bench-a")
    assert response.status_code == 429 and response.json()["limit"] == "in_progress"
    assert "1 submission(s) in progress (the limit is 1)" in response.json()["detail"]


def test_token_authentication(client_for, alice, pred_file, started):
    from rest_framework.test import APIClient

    token = APIClient().post("/api/v1/auth/token/", {"username": "alice", "password": "pw-alice-123"}).json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert upload(client, pred_file, benchmark="bench-a").status_code == 201
    bad = APIClient()
    bad.credentials(HTTP_AUTHORIZATION="Token nope")
    assert bad.get(URL).status_code == 401
