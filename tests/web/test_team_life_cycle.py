"""Self-service teams (issue 21): create, invite by username and by link, accept, leave, the owner removes and
transfers; staff still manage; the team's quota; the team's row on the board; the API under /api/v1/teams/."""
from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from leaderboard.accounts.verification import confirm_address
from leaderboard.benchmarks.testing import write_npz
from leaderboard.submissions.models import Submission, Team, TeamInvitation
from tests.web.test_leaderboards import entry


@pytest.fixture
def carol(db) -> User:
    return User.objects.create_user("carol", password="pw-carol-123")


def test_team_life_cycle_through_the_pages(alice, bob, carol, logged_in, django_capture_on_commit_callbacks):
    owner, member, joiner = logged_in(alice), logged_in(bob), logged_in(carol)
    refused = owner.post("/teams/", {"name": "Lab\u202eA"})
    assert refused.status_code == 400 and "control character (U+202E)" in refused.content.decode()
    assert owner.post("/teams/", {"name": "Lab A"}).status_code == 302
    team = Team.objects.get(name="Lab A")
    assert team.owner == alice and list(team.members.all()) == [alice]
    assert owner.post("/teams/", {"name": "lab a"}).status_code == 400  # names are unique, case ignored

    bob.email = "bob@example.org"
    bob.save()
    with django_capture_on_commit_callbacks(execute=True):
        owner.post(f"/teams/{team.pk}/invite", {"username": "bob"})
    assert mail.outbox == []  # bob's address is not verified: the invitation waits on his Teams page only
    invitation = TeamInvitation.objects.get(user=bob)
    assert "Lab A" in member.get("/teams/").content.decode()
    assert member.get(team.get_absolute_url()).status_code == 404  # not a member yet
    member.post(f"/teams/invitations/{invitation.pk}/accept")
    assert set(team.members.all()) == {alice, bob} and not TeamInvitation.objects.exists()

    page = owner.get(team.get_absolute_url()).content.decode()
    link = f"/teams/join/{team.invite_token}/"
    assert link in page and link not in member.get(team.get_absolute_url()).content.decode()  # owner only
    assert "Join Lab A" in joiner.get(link).content.decode() and team.members.count() == 2  # a GET joins no one
    joiner.post(link)
    assert team.members.filter(pk=carol.pk).exists()

    member.post(f"/teams/{team.pk}/leave")
    assert not team.members.filter(pk=bob.pk).exists()
    member.post(f"/teams/{team.pk}/remove", {"username": "carol"})  # bob is no member now: 404, nothing happens
    assert team.members.filter(pk=carol.pk).exists()
    joiner.post(f"/teams/{team.pk}/remove", {"username": "alice"})  # a member is not the owner
    assert team.members.filter(pk=alice.pk).exists()
    owner.post(f"/teams/{team.pk}/remove", {"username": "carol"})
    assert list(team.members.all()) == [alice]

    old_link = link
    owner.post(f"/teams/{team.pk}/reset-link")
    assert joiner.get(old_link).status_code == 404


def test_owner_transfers_and_staff_still_manage(alice, bob, carol, logged_in):
    team = Team.objects.create(name="Lab T", owner=alice)
    team.members.add(alice, bob)
    owner = logged_in(alice)
    assert "transfer it to another member" in owner.post(f"/teams/{team.pk}/leave", follow=True).content.decode()
    owner.post(f"/teams/{team.pk}/transfer", {"username": "bob"})
    team.refresh_from_db()
    assert team.owner == bob
    owner.post(f"/teams/{team.pk}/leave")
    assert list(team.members.all()) == [bob]
    staff = logged_in(User.objects.create_user("root", is_staff=True))
    staff.post(f"/teams/{team.pk}/invite", {"username": "carol"})
    assert TeamInvitation.objects.filter(team=team, user=carol).exists()


def test_invitation_is_emailed_to_a_verified_address_only(alice, bob, django_capture_on_commit_callbacks):
    bob.email = "bob@example.org"
    bob.save()
    confirm_address(bob)
    api = APIClient()
    api.force_authenticate(alice)
    team = api.post("/api/v1/teams/", {"name": "Lab M"}).json()
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"/api/v1/teams/{team['id']}/invite/", {"username": "bob"}).status_code == 201
    assert [m.to for m in mail.outbox] == [["bob@example.org"]] and "Lab M" in mail.outbox[0].subject


def test_team_api(alice, bob, carol):
    def client(user) -> APIClient:
        api = APIClient()
        api.force_authenticate(user)
        return api

    created = client(alice).post("/api/v1/teams/", {"name": "Lab API"})
    assert created.status_code == 201 and created.json()["owner"] == "alice" and created.json()["join_token"]
    pk, token = created.json()["id"], created.json()["join_token"]
    assert client(alice).post("/api/v1/teams/", {"name": "Lab API"}).json()["error"] == "team_error"
    assert client(bob).post(f"/api/v1/teams/{pk}/invite/", {"username": "carol"}).status_code == 404  # not a member
    assert client(alice).post(f"/api/v1/teams/{pk}/invite/", {"username": "nobody"}).status_code == 400
    client(alice).post(f"/api/v1/teams/{pk}/invite/", {"username": "bob"})
    invitation = client(bob).get("/api/v1/team-invitations/").json()["results"][0]
    assert invitation["team"] == "Lab API"
    assert client(bob).post(f"/api/v1/team-invitations/{invitation['id']}/accept/").json()["members"] == ["alice", "bob"]
    seen = client(bob).get(f"/api/v1/teams/{pk}/").json()
    assert seen["join_token"] is None and seen["invited"] is None  # the owner's business
    assert client(carol).post("/api/v1/teams/join/", {"token": token}).json()["members"] == ["alice", "bob", "carol"]
    assert client(bob).post(f"/api/v1/teams/{pk}/remove/", {"username": "carol"}).status_code == 403
    assert client(alice).post(f"/api/v1/teams/{pk}/remove/", {"username": "carol"}).json()["members"] == ["alice", "bob"]
    assert client(bob).post(f"/api/v1/teams/{pk}/leave/").status_code == 200
    assert client(bob).get(f"/api/v1/teams/{pk}/").status_code == 404
    assert [t["name"] for t in client(alice).get("/api/v1/teams/").json()["results"]] == ["Lab API"]


def test_team_submissions_share_the_teams_quota(alice, bob, carol, bench, tmp_path, started, settings):
    settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY = 1
    team = Team.objects.create(name="Lab Q", owner=alice)
    team.members.add(alice, bob)
    path = write_npz(tmp_path / "p.npz", bench[1])

    def submit(user, **fields):
        api = APIClient()
        api.force_authenticate(user)
        with open(path, "rb") as f:
            return api.post("/api/v1/submissions/", {"file": f, "benchmark": bench[0].slug, "method_name": "M", **fields},
                            format="multipart")

    assert submit(alice, team="Lab Q").status_code == 201
    refused = submit(bob, team="Lab Q")
    assert refused.status_code == 429 and refused.json()["team"] == "Lab Q"
    assert "Daily limit reached for team 'Lab Q' for benchmark 'bench-w': 1 of 1" in refused.json()["detail"]
    assert submit(bob).status_code == 201  # his own quota is his
    assert submit(alice).status_code == 429  # her team submission counted toward her own quota too
    assert Submission.objects.count() == 2


def test_submit_page_shows_what_each_team_has_left(alice, bob, carol, bench, tmp_path, started, settings, logged_in):
    """Bob's team submission uses the team's quota: Alice sees it on her submit page before she uploads for the team
    (daily and whole-phase figures, as check_quotas counts them), her own quota untouched."""
    settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY = 5
    phase = bench[0].phases.get()
    phase.max_submissions = 3
    phase.save()
    team = Team.objects.create(name="Lab Q", owner=alice)
    team.members.add(alice, bob)
    Team.objects.create(name="Lab Other", owner=carol).members.add(carol)
    api = APIClient()
    api.force_authenticate(bob)
    with open(write_npz(tmp_path / "p.npz", bench[1]), "rb") as f:
        assert api.post("/api/v1/submissions/", {"file": f, "benchmark": bench[0].slug, "method_name": "M",
                                                  "team": "Lab Q"}, format="multipart").status_code == 201
    html = logged_in(alice).get("/submit/").content.decode()
    box = html[html.index('id="quota"'):]
    box = box[:box.index("<form")]
    own, teams_part = box.split('id="quota-teams"')
    assert re.search(r"<strong>5 of 5</strong>\s+left today", own)  # Bob's submission is not Alice's
    assert "Lab Q" in teams_part and "Lab Other" not in box  # her teams only
    assert re.search(r"<strong>4 of 5</strong>\s+left today", teams_part)
    assert re.search(r"<strong>2 of 3</strong>\s+left in phase", teams_part)
    assert "Lab Q" not in logged_in(carol).get("/submit/").content.decode()


def test_the_team_is_one_row_on_the_board(alice, bob, carol, board_bench):
    team = Team.objects.create(name="Lab R", owner=alice)
    team.members.add(alice, bob)
    entry(alice, board_bench, "Ours v1", 30.0, team=team)
    entry(bob, board_bench, "Ours v2", 20.0, team=team)
    entry(carol, board_bench, "Solo", 25.0)
    rows = Client().get("/api/v1/leaderboard/lb-web/").json()["rows"]
    assert [(r["rank"], r["method_name"], r["team"]) for r in rows] == [(1, "Ours v2", "Lab R"), (2, "Solo", None)]
    assert "team Lab R (bob)" in Client().get("/benchmarks/lb-web/").content.decode()
