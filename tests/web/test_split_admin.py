"""Admin split actions (issue 21): revealing and choosing the ranking split are separate, each behind a confirmation
page that says what changes; hiding is one bulk action."""
from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from leaderboard.benchmarks.models import Benchmark, Split

URL = "/admin/benchmarks/split/"


@pytest.fixture
def splits(db) -> dict[str, Split]:
    out = {}
    for slug in ("a", "b"):
        benchmark = Benchmark.objects.create(slug=slug, name=slug.upper(), gt_path=f"gt/{slug}/gt.npz")
        out[f"{slug}/dev"] = Split.objects.create(benchmark=benchmark, name="dev", is_revealed=True, is_ranking=True)
        out[f"{slug}/test"] = Split.objects.create(benchmark=benchmark, name="test", is_revealed=False)
    return out


@pytest.fixture
def staff(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("root", password="pw-root-123", is_staff=True, is_superuser=True))
    return client


def _state(split: Split) -> tuple[bool, bool]:
    split.refresh_from_db()
    return split.is_revealed, split.is_ranking


def test_reveal_asks_first_and_leaves_the_ranking_split_alone(splits, staff):
    test = splits["a/test"]
    page = staff.post(URL, {"action": "reveal_splits", "_selected_action": [test.pk]})
    assert page.status_code == 200 and b"becomes public at once" in page.content and b"a / test" in page.content
    assert _state(test) == (False, False)  # nothing changed before the answer
    assert staff.post(URL, {"action": "reveal_splits", "confirm": "yes", "_selected_action": [test.pk]}).status_code == 302
    assert _state(test) == (True, False) and _state(splits["a/dev"]) == (True, True)


def test_ranking_is_its_own_confirmed_action_and_reveals_nothing(splits, staff):
    test = splits["b/test"]
    page = staff.post(URL, {"action": "make_ranking", "_selected_action": [test.pk]})
    assert page.status_code == 200 and b"Still hidden: b/test" in page.content
    staff.post(URL, {"action": "make_ranking", "confirm": "yes", "_selected_action": [test.pk]})
    assert _state(test) == (False, True) and _state(splits["b/dev"]) == (True, False)
    both = staff.post(URL, {"action": "make_ranking", "confirm": "yes",
                            "_selected_action": [splits["a/dev"].pk, splits["a/test"].pk]}, follow=True)
    assert b"One ranking split per benchmark: a has several selected" in both.content
    assert _state(splits["a/dev"]) == (True, True)


def test_hiding_is_one_bulk_action(splits, staff):
    revealed = [s.pk for s in splits.values() if s.is_revealed]
    assert staff.post(URL, {"action": "hide_splits", "_selected_action": revealed}).status_code == 302
    assert not Split.objects.filter(is_revealed=True).exists()
