"""Issue 24, Low: NUL bytes, control characters in method names, homoglyph usernames, the token page's caching."""
from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.security.conftest import World, npz_upload


@pytest.mark.parametrize("path", ["/methods/%00", "/api/v1/benchmarks/%00/", "/api/v1/submissions/?benchmark=%00",
                                  "/benchmarks/bench-s/?split=%00", "/submit/?benchmark=a%00b"])
def test_a_nul_byte_in_a_path_or_parameter_is_a_400(world: World, path):
    for role in ("anonymous", "owner"):
        response = world.client(role).get(path)
        assert response.status_code == 400, (role, response.status_code)
        assert "NUL" in response.content.decode()


@pytest.mark.parametrize("name", ["evil\r\nBcc: victim@example.org", "tab\tname", "bell\x07", "nul-free\x1b[31m"])
def test_control_characters_in_a_method_name_are_refused(world: World, name):
    from leaderboard.submissions.models import Submission

    before = Submission.objects.count()
    arrays = {"sample_ids": np.array(["x"])}  # any file: the name is refused before the file is looked at
    api = world.client("owner").post("/api/v1/submissions/", {
        "file": npz_upload(arrays), "kind": "predictions", "benchmark": world.benchmark.slug, "method_name": name})
    assert api.status_code == 400 and "control character" in api.json()["detail"]
    page = world.client("owner").post("/submit/", {
        "file": npz_upload(arrays), "kind": "predictions", "benchmarks": [world.benchmark.slug], "method_name": name})
    assert page.status_code == 400 and "control character" in page.content.decode()
    assert Submission.objects.count() == before


@pytest.mark.django_db
def test_homoglyph_usernames_are_refused_at_sign_up():
    User.objects.create_user("alice", password="pw-alice-123")
    form = {"password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"}
    for name in ("\u0430lice", "b\u043eb", "\u03b1lice"):  # Cyrillic а, Cyrillic о, Greek α (fullwidth: NFKC'd)
        response = Client().post("/accounts/signup/", {**form, "username": name})
        assert response.status_code == 400 and not User.objects.filter(username=name).exists(), name
        assert "letters" in response.content.decode()
    assert Client().post("/accounts/signup/", {**form, "username": "carol.b-2"}).status_code == 302


def test_the_token_page_is_never_stored(world: World):
    response = world.client("owner").get("/accounts/token/")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
