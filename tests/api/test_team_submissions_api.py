"""Submitting for a team through the API: membership is checked, members read (never act on) the team's submissions."""
import csv
import io

import pytest
from django.contrib.auth.models import User

from leaderboard.submissions.models import BenchmarkResult, Status, Submission, Team

URL = "/api/v1/submissions/"


@pytest.fixture
def team(alice, bob) -> Team:
    lab = Team.objects.create(name="Lab A")
    lab.members.add(alice, bob)
    return lab


@pytest.fixture
def carol(db) -> User:
    return User.objects.create_user("carol", password="pw-carol-123")


def upload(client, path, **fields):
    with open(path, "rb") as f:
        return client.post(URL, {"file": f, "method_name": "Team method", "benchmark": "bench-a", **fields}, format="multipart")


def test_member_submits_for_the_team(client_for, alice, team, pred_file, started):
    response = upload(client_for(alice), pred_file, team="Lab A")
    assert response.status_code == 201, response.content
    assert response.json()["team"] == "Lab A" and response.json()["owner"] == "alice"
    assert Submission.objects.get().team == team


def test_without_a_team_the_field_is_null(client_for, alice, team, pred_file, started):
    response = upload(client_for(alice), pred_file)
    assert response.status_code == 201 and response.json()["team"] is None
    assert Submission.objects.get().team is None


@pytest.mark.parametrize("name", ["Lab A", "No such team"])
def test_non_member_is_refused_and_nothing_is_stored(client_for, carol, team, pred_file, started, stored_uploads, name):
    before = stored_uploads()
    response = upload(client_for(carol), pred_file, team=name)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_request" and f"not a member of a team named '{name}'" in body["detail"]
    assert not Submission.objects.exists() and stored_uploads() == before
    started.assert_not_called()


@pytest.fixture
def team_submission(alice, team, bench) -> Submission:
    """Alice's finished, private submission for the team."""
    s = Submission.objects.create(owner=alice, team=team, method_name="Ours", status=Status.FINISHED, mpe=40.0, log="secret log")
    s.benchmarks.add(bench[0])
    BenchmarkResult.objects.create(submission=s, benchmark=bench[0], split="test", primary_value=40.0, metrics={"mpvpe_all": 40.0})
    return s


def test_member_reads_but_cannot_act_and_others_get_404(client_for, bob, carol, team_submission):
    url = f"{URL}{team_submission.uuid}/"
    member = client_for(bob)
    seen = member.get(url).json()
    assert seen["method_name"] == "Ours" and seen["team"] == "Lab A" and seen["results"][0]["primary_value"] == 40.0
    assert seen["log"] is None and "upload_sha256" not in seen  # owner-only details stay owner-only
    assert member.get(url + "status/").status_code == 200
    for verb in ("publish/", "unpublish/", "cancel/"):
        assert member.post(url + verb).status_code == 404
    assert Submission.objects.get().is_public is False
    for client in (client_for(carol), client_for()):
        assert client.get(url).status_code == 404


def test_leaderboard_json_and_csv_name_the_team(client_for, alice, team_submission):
    assert client_for(alice).post(f"{URL}{team_submission.uuid}/publish/").status_code == 200
    row = client_for().get("/api/v1/leaderboard/").json()["rows"][0]
    assert row["team"] == "Lab A" and row["owner"] == "alice"
    bench_row = client_for().get("/api/v1/leaderboard/bench-a/").json()["rows"][0]
    assert bench_row["team"] == "Lab A"
    text = b"".join(client_for().get("/api/v1/leaderboard/?format=csv").streaming_content).decode()
    assert next(csv.DictReader(io.StringIO(text)))["team"] == "Lab A"
