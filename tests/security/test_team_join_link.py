"""The team join link (docs/security.md, "Team join links"): a random token only the owner and staff see, reusable
until replaced, joining only by POST, and no way back in for a member the owner removed."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from leaderboard.submissions.models import Team
from tests.model_submissions.pipeline_checks import api_client, page_client


@pytest.fixture
def team(alice, bob) -> Team:
    team = Team.objects.create(name="Lab L", owner=alice)
    team.members.add(alice, bob)
    return team


def test_the_token_is_long_random_and_shown_to_the_owner_only(team, alice, bob):
    other = Team.objects.create(name="Lab M", owner=bob)
    assert team.invite_token != other.invite_token and len(team.invite_token) >= 32  # 24 random bytes, base64url
    assert team.invite_token in page_client(alice).get(team.get_absolute_url()).content.decode()
    assert team.invite_token not in page_client(bob).get(team.get_absolute_url()).content.decode()
    assert api_client(bob).get(f"/api/v1/teams/{team.pk}/").json()["join_token"] is None


def test_opening_the_link_joins_no_one_and_needs_a_sign_in(team, db):
    carol = User.objects.create_user("carol")
    link = f"/teams/join/{team.invite_token}/"
    assert Client().get(link).status_code == 302 and Client().post(link).status_code == 302  # to the log-in page
    shown = page_client(carol).get(link)
    assert shown.status_code == 200 and shown["Referrer-Policy"] == "same-origin"  # the token stays on this site
    assert not team.members.filter(pk=carol.pk).exists()
    assert page_client(carol).get(f"/teams/join/{team.invite_token[:-1]}x/").status_code == 404


@pytest.mark.parametrize("through", ["page", "api"])
def test_a_removed_member_cannot_rejoin_with_the_link_they_had(team, alice, through):
    carol = User.objects.create_user("carol")
    token = team.invite_token
    if through == "page":
        page_client(carol).post(f"/teams/join/{token}/")
        assert team.members.filter(pk=carol.pk).exists()
        page_client(alice).post(f"/teams/{team.pk}/remove", {"username": "carol"})
        assert page_client(carol).post(f"/teams/join/{token}/").status_code == 404
    else:
        assert api_client(carol).post("/api/v1/teams/join/", {"token": token}).status_code == 200
        new = api_client(alice).post(f"/api/v1/teams/{team.pk}/remove/", {"username": "carol"}).json()["join_token"]
        assert new and new != token
        assert api_client(carol).post("/api/v1/teams/join/", {"token": token}).status_code == 404
    assert not team.members.filter(pk=carol.pk).exists()
    team.refresh_from_db()
    assert team.invite_token != token  # the others get the new link from the owner
