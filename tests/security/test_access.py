"""Who may do what: every page and API endpoint for anonymous, the owner, another user and staff.

A private submission of someone else answers 404 (its existence must not leak); login-only pages redirect
anonymous users to the login page (302) on the web and answer 401 in the API (token auth is tried first).
"""
from __future__ import annotations

import pytest

from leaderboard.submissions.models import Submission
from tests.security.conftest import World

ROLES = ("anonymous", "owner", "other", "staff")
LOGIN = 302


def expect(anonymous: int, owner: int, other: int, staff: int) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, owner, other, staff)))


# (method, url template, expected status per role). {uuid}: alice's finished private submission.
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    ("get", "/", expect(200, 200, 200, 200)),
    ("get", "/?format=csv", expect(200, 200, 200, 200)),
    ("get", "/benchmarks/{slug}/", expect(200, 200, 200, 200)),
    ("get", "/benchmarks/{slug}/?format=csv", expect(200, 200, 200, 200)),
    ("get", "/api/", expect(200, 200, 200, 200)),
    ("get", "/submit/", expect(LOGIN, 200, 200, 200)),
    ("get", "/submissions/mine/", expect(LOGIN, 200, 200, 200)),
    ("get", "/submissions/{uuid}/", expect(404, 200, 404, 200)),
    ("get", "/submissions/{uuid}/status.json", expect(404, 200, 404, 200)),
    ("get", "/submissions/{uuid}/results.json", expect(404, 200, 404, 200)),
    ("get", "/submissions/{uuid}/upload", expect(LOGIN, 200, 404, 200)),
    ("get", "/submissions/{uuid}/publish", expect(LOGIN, 405, 405, 405)),
    ("post", "/submissions/{uuid}/cancel", expect(LOGIN, 302, 404, 302)),  # finished: redirect with an error message
    ("get", "/accounts/token/", expect(LOGIN, 200, 200, 200)),
    ("get", "/accounts/signup/", expect(200, 302, 302, 302)),
    ("get", "/admin/", expect(LOGIN, LOGIN, LOGIN, 200)),
    ("get", "/admin/benchmarks/benchmark/", expect(LOGIN, LOGIN, LOGIN, 403)),  # staff without model permissions
    ("get", "/api/v1/schema/", expect(200, 200, 200, 200)),
    ("get", "/api/v1/benchmarks/", expect(200, 200, 200, 200)),
    ("get", "/api/v1/benchmarks/{slug}/", expect(200, 200, 200, 200)),
    ("get", "/api/v1/leaderboard/", expect(200, 200, 200, 200)),
    ("get", "/api/v1/leaderboard/?format=csv", expect(200, 200, 200, 200)),
    ("get", "/api/v1/leaderboard/{slug}/", expect(200, 200, 200, 200)),
    ("get", "/api/v1/leaderboard/{slug}/?format=csv", expect(200, 200, 200, 200)),
    ("get", "/api/v1/submissions/", expect(401, 200, 200, 200)),
    ("get", "/api/v1/submissions/{uuid}/", expect(404, 200, 404, 200)),
    ("get", "/api/v1/submissions/{uuid}/status/", expect(404, 200, 404, 200)),
    ("post", "/api/v1/submissions/{uuid}/cancel/", expect(401, 409, 404, 409)),
    ("post", "/api/v1/submissions/{running}/unpublish/", expect(401, 200, 404, 200)),
    ("post", "/api/v1/submissions/{running}/publish/", expect(401, 409, 404, 409)),  # not finished
]


def url_for(template: str, world: World) -> str:
    return template.format(uuid=world.submission.uuid, running=world.running.uuid, slug=world.benchmark.slug)


@pytest.mark.parametrize(("method", "template", "expected"), MATRIX, ids=[f"{m} {u}" for m, u, _ in MATRIX])
def test_permissions_matrix(world: World, method: str, template: str, expected: dict[str, int]):
    url = url_for(template, world)
    got = {role: getattr(world.client(role), method)(url).status_code for role in ROLES}
    assert got == expected
    if expected["anonymous"] == LOGIN:
        assert world.client("anonymous").get(url)["Location"].startswith(("/accounts/login/", "/admin/login/"))


@pytest.mark.parametrize("role", ["anonymous", "other"])
def test_others_cannot_publish_or_cancel_and_nothing_changes(world: World, role: str):
    client = world.client(role)
    for url in (f"/submissions/{world.submission.uuid}/publish", f"/api/v1/submissions/{world.submission.uuid}/publish/",
                f"/submissions/{world.running.uuid}/cancel", f"/api/v1/submissions/{world.running.uuid}/cancel/"):
        assert client.post(url).status_code in (302, 401, 404)
    assert Submission.objects.get(pk=world.submission.pk).is_public is False
    assert Submission.objects.get(pk=world.running.pk).status == "running"


def test_owner_publishes_and_then_everyone_sees_it(world: World):
    assert world.client("owner").post(f"/submissions/{world.submission.uuid}/publish").status_code == 302
    for role in ROLES:
        assert world.client(role).get(f"/submissions/{world.submission.uuid}/").status_code == 200
        assert world.client(role).get(f"/api/v1/submissions/{world.submission.uuid}/").status_code == 200
    # ...but the uploaded file stays the owner's (and staff's) only.
    assert world.client("other").get(f"/submissions/{world.submission.uuid}/upload").status_code == 404


def test_api_list_shows_only_your_own_submissions(world: World):
    assert world.client("other").get("/api/v1/submissions/").json()["count"] == 0
    assert world.client("owner").get("/api/v1/submissions/").json()["count"] == 2


def test_private_method_names_do_not_leak_into_public_listings(world: World):
    for url in ("/", "/?format=csv", f"/benchmarks/{world.benchmark.slug}/", "/api/v1/leaderboard/",
                f"/api/v1/leaderboard/{world.benchmark.slug}/?format=csv"):
        response = world.client("other").get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content  # exports stream
        assert b"secret-net" not in body, url
