"""The submissions API and "my submissions" cost a fixed number of queries, whatever the page size."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leaderboard.benchmarks.models import Split
from leaderboard.submissions.models import BenchmarkResult, Status, Submission, Team


def make(owner, benchmark, n: int, team=None) -> None:
    for i in range(n):
        s = Submission.objects.create(owner=owner, team=team, method_name=f"S{i}", status=Status.FINISHED, mpe=40.0 + i,
                                      log="L" * 5000, eval_plan={"shards": [{"task_id": "x" * 36}] * 20})
        s.benchmarks.add(benchmark)
        for split in ("test", "hidden"):
            BenchmarkResult.objects.create(submission=s, benchmark=benchmark, split=split, primary_value=1.0,
                                           metrics={"mpvpe_all": 1.0})


def queries(client, path: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200
    return len(captured), response.json()


@pytest.fixture
def with_hidden_split(bench):
    Split.objects.create(benchmark=bench[0], name="hidden", is_revealed=False)
    return bench[0]


def test_submissions_list_queries_do_not_grow_with_rows(client_for, alice, staff, with_hidden_split,
                                                        django_assert_max_num_queries):
    team = Team.objects.create(name="T")
    team.members.add(alice)
    make(alice, with_hidden_split, 3, team=team)
    few, small = queries(client_for(alice), "/api/v1/submissions/")
    make(alice, with_hidden_split, 47, team=team)
    many, large = queries(client_for(alice), "/api/v1/submissions/")
    assert len(small["results"]) == 3 and len(large["results"]) == 50
    assert many == few <= 8, (few, many)
    assert all(len(s["results"]) == 1 for s in large["results"])  # the hidden split stays hidden, in one query
    assert large["results"][0]["team"] == "T" and large["results"][0]["owner"] == "alice"
    uuid = large["results"][0]["id"]
    with django_assert_max_num_queries(8):  # the deferred log is loaded for the detail (staff only: issue 12)
        assert client_for(staff).get(f"/api/v1/submissions/{uuid}/").json()["log"] == "L" * 5000
    assert client_for(alice).get(f"/api/v1/submissions/{uuid}/").json()["log"] is None


def test_my_submissions_page_is_paginated(alice, bench, django_assert_max_num_queries):
    make(alice, bench[0], 55)
    client = Client()
    client.force_login(alice)
    with django_assert_max_num_queries(10):
        first = client.get("/submissions/mine/").content.decode()
    assert first.count('class="method-name"') == 50 and "Page 1 of 2" in first and "?page=2" in first
    second = client.get("/submissions/mine/?page=2").content.decode()
    assert second.count('class="method-name"') == 5
