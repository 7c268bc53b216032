"""Issue 12, Low: absurd ``limit``/``offset`` values are bounded or refused with a 400, never a 500."""
from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from leaderboard.submissions.actions import create_submission
from tests.security.conftest import npz_upload

HUGE = "99999999999999999999999"


@pytest.fixture
def alice_with_submissions(bench, alice, started):
    for i in range(3):
        create_submission(alice, npz_upload(bench[1]), "predictions", [bench[0].slug], {"method_name": f"m{i}"})
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(alice)
    return client


def test_a_huge_limit_is_capped(alice_with_submissions):
    response = alice_with_submissions.get(f"/api/v1/submissions/?limit={HUGE}")
    assert response.status_code == 200
    assert len(response.json()["results"]) == 3


def test_the_limit_cap_applies(alice_with_submissions, settings):
    settings.API_MAX_LIMIT = 2
    page = alice_with_submissions.get(f"/api/v1/submissions/?limit={HUGE}").json()
    assert len(page["results"]) == 2 and "limit=2" in page["next"]


@pytest.mark.parametrize("query", [f"offset={HUGE}", f"limit=2&offset={HUGE}", "limit=2&offset=9223372036854775808"])
def test_a_huge_offset_is_an_empty_page(alice_with_submissions, query):
    response = alice_with_submissions.get(f"/api/v1/submissions/?{query}")
    assert response.status_code == 200 and response.json()["results"] == []


@pytest.mark.parametrize("path", ["/api/v1/leaderboard/", "/api/v1/leaderboard/bench-a/", "/", "/benchmarks/bench-a/"])
@pytest.mark.parametrize("query", [f"limit={HUGE}", f"offset={HUGE}", "offset=9223372036854775808", f"page={HUGE}"])
def test_leaderboards_refuse_out_of_range_numbers(alice_with_submissions, path, query):
    response = alice_with_submissions.get(f"{path}?{query}")
    assert response.status_code in (200, 400), (path, query, response.status_code)
