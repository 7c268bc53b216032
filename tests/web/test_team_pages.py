"""The submit form's team select and the team shown on leaderboards and to members."""
import pytest

from leaderboard.benchmarks.testing import write_npz
from leaderboard.submissions.models import BenchmarkResult, Status, Submission, Team


@pytest.fixture
def team(alice) -> Team:
    lab = Team.objects.create(name="Lab W")
    lab.members.add(alice)
    return lab


def post_form(client, bench, path, **fields):
    with open(path, "rb") as f:
        return client.post("/submit/", {"kind": "predictions", "benchmarks": [bench[0].slug], "file": f, "method_name": "Mine", **fields})


def test_form_offers_only_the_users_teams(alice, bob, team, bench, logged_in):
    Team.objects.create(name="Other lab")
    page = logged_in(alice).get("/submit/").content.decode()
    assert "Lab W" in page and "Other lab" not in page
    assert 'name="team"' not in logged_in(bob).get("/submit/").content.decode()  # no team: no select


def test_form_submits_for_the_team(alice, team, bench, logged_in, tmp_path, started):
    response = post_form(logged_in(alice), bench, write_npz(tmp_path / "p.npz", bench[1]), team=team.pk)
    assert response.status_code == 302
    assert Submission.objects.get().team == team


def test_form_refuses_a_team_of_others(bob, team, bench, logged_in, tmp_path, started):
    response = post_form(logged_in(bob), bench, write_npz(tmp_path / "p.npz", bench[1]), team=team.pk)
    assert response.status_code == 400
    assert "You are not a member of that team." in response.content.decode()
    assert not Submission.objects.exists()


def test_leaderboards_and_member_page_show_the_team(alice, bob, team, bench, logged_in, client):
    s = Submission.objects.create(owner=alice, team=team, method_name="Ours", status=Status.FINISHED, is_public=True, mpe=40.0)
    s.benchmarks.add(bench[0])
    BenchmarkResult.objects.create(submission=s, benchmark=bench[0], split="test", primary_value=40.0, metrics={"mpvpe_all": 40.0})
    for url in ("/", bench[0].get_absolute_url()):
        assert "team Lab W (alice)" in client.get(url).content.decode()
    Submission.objects.filter(pk=s.pk).update(is_public=False)
    team.members.add(bob)
    page = logged_in(bob).get(s.get_absolute_url()).content.decode()
    assert "for team Lab W" in page and f"/submissions/{s.uuid}/publish" not in page
    assert logged_in(bob).get(f"/submissions/{s.uuid}/upload").status_code == 404
