"""Leaderboard pages and API: one row per entrant, pagination, "my row", HTTP validators, cache invalidation."""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from itertools import count
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.actions import set_published
from leaderboard.submissions.board_cache import current_version
from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission, Team
from leaderboard.submissions.scores import Coverage, CoverageEntry
from leaderboard.web import response_cache

_serial = count()
REPO_ROOT = Path(__file__).resolve().parents[2]


def entry(owner, benchmark, name, value, public=True, team=None, **extra) -> Submission:
    """A finished submission with MPE ``value`` and the same value as its primary metric on ``benchmark``."""
    s = Submission.objects.create(owner=owner, team=team, method_name=name, status=Status.FINISHED, is_public=public,
                                  mpe=value, **extra)
    BenchmarkResult.objects.create(submission=s, benchmark=benchmark, split="test", primary_value=value, num_samples=4,
                                   metrics={"mpvpe_all": value, "pa_mpvpe_all": None if value is None else value / 2})
    return s


def users(n: int) -> list[User]:
    return [User.objects.create_user(f"u{next(_serial)}") for _ in range(n)]


def order(html: str, names: list[str]) -> list[str]:
    present = [n for n in names if f">{n}<" in html]
    return sorted(present, key=lambda n: html.index(f">{n}<"))


def streamed(response) -> str:
    return b"".join(response.streaming_content).decode()


def test_one_row_per_user_or_team_with_all_submissions_toggle(alice, bob, board_bench):
    team = Team.objects.create(name="Lab")
    team.members.add(alice, bob)
    entry(alice, board_bench, "A-worse", 50.0)
    entry(alice, board_bench, "A-best", 40.0)
    entry(bob, board_bench, "B-only", 45.0)
    entry(alice, board_bench, "Team-worse", 44.0, team=team)
    entry(bob, board_bench, "Team-best", 41.0, team=team)
    for name, value in (("Paper-1", 60.0), ("Paper-2", 61.0)):  # one owner, but each baseline is its own row
        entry(bob, board_bench, name, value, public=False, baseline_source=BaselineSource.REPORTED)
    entry(bob, board_bench, "Private", 1.0, public=False)
    names = ["A-best", "Team-best", "Team-worse", "B-only", "A-worse", "Paper-1", "Paper-2", "Private"]
    best = ["A-best", "Team-best", "B-only", "Paper-1", "Paper-2"]
    every = ["A-best", "Team-best", "Team-worse", "B-only", "A-worse", "Paper-1", "Paper-2"]

    for path in ("/", f"/benchmarks/{board_bench.slug}/"):
        html = Client().get(path).content.decode()
        assert order(html, names) == best, path
        assert "5 entrants" in html and re.search(r'class="num rank rank-col">3<', html)  # B-only ranks 3rd of the best
        assert order(Client().get(path + "?all=1").content.decode(), names) == every, path

    api = Client().get("/api/v1/leaderboard/").json()
    assert [r["method_name"] for r in api["rows"]] == best and api["count"] == 5 and api["all"] is False
    assert [r["rank"] for r in api["rows"]] == [1, 2, 3, 4, 5]
    api_all = Client().get(f"/api/v1/leaderboard/{board_bench.slug}/?all=1").json()
    assert [r["method_name"] for r in api_all["rows"]] == every
    assert [r["rank"] for r in api_all["rows"]] == [1, 2, 3, 4, 5, 1, 2]  # reported figures rank among themselves
    table = list(csv.DictReader(io.StringIO(streamed(Client().get("/api/v1/leaderboard/?format=csv")))))
    assert [r["method"] for r in table] == best and table[3]["baseline"] == "reported"
    # One type per column: a timestamp, or empty for figures copied from a paper (never the word "reported").
    assert [bool(r["submitted_at"]) for r in table] == [True, True, True, False, False]
    assert all(datetime.fromisoformat(r["submitted_at"]) for r in table if r["submitted_at"])
    assert [r["submitted_at"] is None for r in api["rows"]] == [False, False, False, True, True]
    table = list(csv.DictReader(io.StringIO(streamed(Client().get(f"/benchmarks/{board_bench.slug}/?all=1&format=csv")))))
    assert [r["method"] for r in table] == every


def covered(submission: Submission, *slugs: str) -> Submission:
    coverage = Coverage.of([CoverageEntry(slug, "test", "smplx-generic", "1") for slug in slugs])
    Submission.objects.filter(pk=submission.pk).update(score_coverage={"mpe": coverage.to_json()}, mpe_coverage_key=coverage.key)
    return submission


def test_rows_rank_only_against_rows_of_the_same_coverage(board_bench):
    a, b, c, d, e = users(5)
    covered(entry(a, board_bench, "Two-A", 45.0), "x", "y")
    covered(entry(b, board_bench, "Two-B", 50.0), "x", "y")
    covered(entry(e, board_bench, "Two-E", 55.0), "x", "y")  # the bigger section: listed first (sizes 3 and 2)
    covered(entry(c, board_bench, "One-C", 10.0), "x")  # better number, but over fewer benchmarks: not comparable
    covered(entry(a, board_bench, "One-A", 30.0), "x")  # a's best in that other section: a row of its own
    entry(d, board_bench, "Unscored", None)
    board = Client().get("/api/v1/leaderboard/").json()
    rows = board["rows"]
    assert board["count"] == 6  # a's two rows (one per section) both count
    assert [(r["method_name"], r["rank"]) for r in rows] == [
        ("Two-A", 1), ("Two-B", 2), ("Two-E", 3), ("One-C", 1), ("One-A", 2), ("Unscored", None)]
    assert rows[0]["coverage"] == "Computed here: MPE on x/test, y/test (smplx-generic v1)"
    assert len({r["comparable_group"] for r in rows}) == 3
    html = Client().get("/").content.decode()
    assert html.count('class="section-row"') == 3
    assert html.index("MPE on x/test, y/test") < html.index(">Two-A<") < html.index("MPE on x/test (") < html.index(">One-C<")


def test_sort_by_another_column_keeps_ranks_and_missing_last(alice, board_bench):
    a, b, c = users(3)
    entry(a, board_bench, "Small", 10.0)
    entry(b, board_bench, "Large", 30.0)
    entry(c, board_bench, "Missing", None)
    rows = Client().get(f"/api/v1/leaderboard/{board_bench.slug}/?sort=pa_mpvpe_all&dir=desc").json()["rows"]
    assert [(r["method_name"], r["rank"]) for r in rows] == [("Large", 2), ("Small", 1), ("Missing", None)]
    html = Client().get(f"/benchmarks/{board_bench.slug}/?sort=pa_mpvpe_all&dir=desc").content.decode()
    assert 'aria-sort="descending"' in html and 'class="better"' in html and "sticky-cols" in html
    assert 'sort=pa_mpvpe_all" title=' in html  # clicking the sorted column again goes back to best first
    overall = Client().get("/?sort=hand_mpe&dir=sideways").content.decode()
    assert 'aria-sort="ascending"' in overall


@override_settings(LEADERBOARD_PAGE_SIZE=5, LEADERBOARD_API_MAX_LIMIT=8)
def test_pages_and_api_are_paginated_and_my_row_is_findable(board_bench):
    people = users(12)
    made = [entry(u, board_bench, f"M{i:02d}", 10.0 + i) for i, u in enumerate(people)]
    first = Client().get("/").content.decode()
    assert order(first, [s.method_name for s in made]) == ["M00", "M01", "M02", "M03", "M04"]
    assert "Page 1 of 3" in first and 'href="?page=2"' in first
    third = Client().get("/?page=3").content.decode()
    assert order(third, [s.method_name for s in made]) == ["M10", "M11"] and 'class="num rank rank-col">11<' in third
    assert Client().get("/?page=4").status_code == 404
    bad = Client().get("/?page=two")
    assert bad.status_code == 400 and "page must be an integer" in bad.content.decode()

    me = Client()
    me.force_login(people[8])
    html = me.get(f"/benchmarks/{board_bench.slug}/").content.decode()
    assert f'page=2#s-{made[8].uuid}"' in html and "Your row: #9 (page 2)" in html
    assert f'id="s-{made[8].uuid}"' in me.get(f"/benchmarks/{board_bench.slug}/?page=2").content.decode()

    api = Client().get("/api/v1/leaderboard/?limit=100&offset=2").json()
    assert api["limit"] == 8 and api["offset"] == 2 and api["count"] == 12
    assert [r["method_name"] for r in api["rows"]] == [f"M{i:02d}" for i in range(2, 10)]
    assert api["next"].endswith("?limit=8&offset=10") and api["previous"].endswith("?limit=8")
    for query in ("limit=0", "limit=x", "offset=-1"):
        answer = Client().get(f"/api/v1/leaderboard/?{query}")
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_parameter", query
    exported = list(csv.DictReader(io.StringIO(streamed(Client().get("/?format=csv")))))
    assert len(exported) == 12  # exports are never paginated
    dump = b"".join(Client().get("/?format=json").streaming_content)
    assert dump.count(b'"method_name"') == 12


def test_unchanged_pages_answer_304_until_a_result_changes(alice, bob, board_bench):
    entry(alice, board_bench, "First", 40.0)
    late = entry(bob, board_bench, "Late", 30.0, public=False)
    for path in ("/", f"/benchmarks/{board_bench.slug}/", "/api/v1/leaderboard/", f"/api/v1/leaderboard/{board_bench.slug}/"):
        first = Client().get(path)
        assert first.status_code == 200 and first["ETag"] and first["Last-Modified"], path
        assert "no-cache" in first["Cache-Control"]
        assert Client().get(path, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304, path
    etag = Client().get("/")["ETag"]
    set_published(late, True)
    again = Client().get("/", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 200 and order(again.content.decode(), ["First", "Late"]) == ["Late", "First"]


def test_cached_boards_follow_every_change(alice, bob, board_bench, django_assert_max_num_queries):
    s = entry(alice, board_bench, "Mine", 40.0)
    entry(bob, board_bench, "Theirs", 50.0)
    Client().get("/")
    Client().get(f"/benchmarks/{board_bench.slug}/")
    with django_assert_max_num_queries(1):  # warm: only the version row is read
        assert ">Mine<" in Client().get("/").content.decode()

    def shows(name: str, path: str = "/") -> bool:
        return f">{name}<" in Client().get(path).content.decode()

    set_published(s, False)
    assert not shows("Mine")
    set_published(s, True)
    assert shows("Mine")
    Submission.objects.filter(pk=s.pk).update(method_name="Renamed")  # an update() is invisible...
    assert shows("Mine")
    s.refresh_from_db()
    s.save()  # ...a save() is not
    assert shows("Renamed")
    Benchmark.objects.filter(pk=board_bench.pk).update(name="Old name")
    board_bench.name = "Renamed bench"
    board_bench.save()
    assert "Renamed bench" in Client().get("/").content.decode()
    split = board_bench.splits.get()
    split.is_revealed = False
    split.save()
    assert not shows("Renamed", f"/benchmarks/{board_bench.slug}/")


def test_private_work_does_not_invalidate_the_boards(alice, board_bench):
    entry(alice, board_bench, "Public", 40.0)
    before = current_version()
    entry(alice, board_bench, "Private", 30.0, public=False)
    Client().force_login(alice)  # saves last_login
    assert current_version() == before


def test_submission_page_links_to_its_rows(alice, board_bench):
    best = entry(alice, board_bench, "Best", 40.0)
    worse = entry(alice, board_bench, "Worse", 50.0)
    html = Client().get(best.get_absolute_url()).content.decode()
    assert f'href="/#s-{best.uuid}"' in html
    assert f'href="/benchmarks/{board_bench.slug}/?split=test#s-{best.uuid}"' in html
    worse_html = Client().get(worse.get_absolute_url()).content.decode()
    assert f'href="/?all=1#s-{worse.uuid}"' in worse_html and "(all submissions)" in worse_html
    private = entry(alice, board_bench, "Private", 1.0, public=False, paper_url="https://example.org/p",
                    code_url="https://example.org/c")
    me = Client()
    me.force_login(alice)
    page = me.get(private.get_absolute_url()).content.decode()
    assert "On the leaderboard" not in page
    assert re.search(r'<a [^>]*href="https://example.org/p"[^>]*>Paper ↗</a><a [^>]*href="https://example.org/c"', page)


def test_page_queries_do_not_grow_with_rows(board_bench, django_assert_max_num_queries):
    for i, u in enumerate(users(60)):
        entry(u, board_bench, f"Q{i:02d}", 10.0 + i, log="x" * 1000)
    with django_assert_max_num_queries(12):  # cold: version, benchmarks, splits, count, rows, primaries, html
        Client().get("/")
    with django_assert_max_num_queries(12):
        Client().get(f"/benchmarks/{board_bench.slug}/?all=1&page=2")
    with django_assert_max_num_queries(10):
        Client().get("/api/v1/leaderboard/?limit=60")


@pytest.mark.django_db(transaction=True)
def test_a_result_published_by_another_process_shows_within_a_second():
    """Another process (a fresh Django in a subprocess, as a Celery worker or another gunicorn worker would be)
    publishes; this process's cached page shows the row within 1 s."""
    benchmark = Benchmark.objects.create(slug="fresh", name="Fresh", gt_path="gt/fresh/gt.npz")
    Split.objects.create(benchmark=benchmark, name="test", is_ranking=True, is_revealed=True)
    alice, bob = users(2)
    entry(alice, benchmark, "Old", 40.0)
    late = entry(bob, benchmark, "Newcomer", 30.0, public=False)
    assert ">Newcomer<" not in Client().get("/").content.decode()  # the board is cached now
    db = connection.settings_dict
    env = {**os.environ, "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
           "DJANGO_SETTINGS_MODULE": "leaderboard.settings"}
    script = ("import django; django.setup(); from leaderboard.submissions.actions import set_published; "
              "from leaderboard.submissions.models import Submission; "
              f"set_published(Submission.objects.get(pk={late.pk}), True)")
    subprocess.run([sys.executable, "-c", script], env=env, cwd=REPO_ROOT, check=True, timeout=120)
    published_at = time.monotonic()
    while ">Newcomer<" not in Client().get("/").content.decode():
        assert time.monotonic() - published_at < 1.0, "the published result did not appear within 1 s"
        time.sleep(0.02)
    assert time.monotonic() - published_at < 1.0


def test_method_page_groups_a_methods_submissions_by_entrant(alice, bob, board_bench):
    entry(alice, board_bench, "Shared", 40.0)
    entry(alice, board_bench, "Shared", 45.0)
    entry(bob, board_bench, "Shared", 50.0)
    entry(bob, board_bench, "Shared", 1.0, public=False)  # private: never listed
    html = Client().get("/methods/Shared").content.decode()
    assert "3 published submissions" in html and html.count('name="s"') == 3
    assert "<strong>alice</strong><span class=\"muted\">2 submissions" in html
    assert "<strong>bob</strong><span class=\"muted\">1 submission<" in html and ">1.0<" not in html
    assert Client().get("/methods/Nobody").status_code == 404


def test_compare_view_puts_two_to_four_methods_side_by_side(alice, bob, board_bench):
    a = entry(alice, board_bench, "Alpha", 40.0)
    b = entry(bob, board_bench, "Beta", 30.0)
    hidden = entry(bob, board_bench, "Private", 1.0, public=False)
    page = Client().get(f"/compare/?s={a.uuid}&s={b.uuid}")
    html = page.content.decode()
    assert page.status_code == 200 and "Compare 2 methods" in html and "Whole body" in html
    assert '<svg class="chart compare"' in html and "Alpha, PVE (all): 40.00 mm" in html
    assert re.search(r'<td class="num key">30\.00</td>', html)  # the lower error is marked best
    assert Client().get(f"/compare/?s={a.uuid}").status_code == 400
    assert Client().get("/compare/?s=not-a-uuid&s=x").status_code == 400
    assert Client().get(f"/compare/?s={a.uuid}&s={hidden.uuid}").status_code == 404


def test_boards_cache_in_redis_when_configured(alice, board_bench, django_assert_max_num_queries):
    """CACHE_URL=redis://... selects Django's RedisCache: the cached rows must survive pickling through it."""
    import os

    from django.core.cache import caches

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/") + "/9"
    redis_cache = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url,
                               "KEY_PREFIX": f"ehps-test-{next(_serial)}-{os.getpid()}"}}
    entry(alice, board_bench, "Cached", 40.0)
    # No clear() at the end: it would flush a whole Redis database; the entries expire within a minute.
    with override_settings(CACHES=redis_cache, LEADERBOARD_CACHE_SECONDS=60):
        assert "RedisCache" in type(caches["default"]).__name__
        assert ">Cached<" in Client().get(f"/benchmarks/{board_bench.slug}/").content.decode()
        response_cache.STORE.clear()  # as in another web process: the page comes from Redis, not this one's memory
        with django_assert_max_num_queries(1):  # the version row; everything else from Redis
            assert ">Cached<" in Client().get(f"/benchmarks/{board_bench.slug}/").content.decode()


def test_my_row_link_says_unranked_rather_than_a_dash_when_i_have_no_mpe(board_bench):
    ranked, me = users(2)
    entry(ranked, board_bench, "Ranked", 10.0)
    mine = entry(me, board_bench, "No MPE", 20.0)
    Submission.objects.filter(pk=mine.pk).update(mpe=None)
    client = Client()
    client.force_login(me)
    html = client.get("/").content.decode()
    assert "Your row (unranked)" in html and "Your row: #–" not in html
