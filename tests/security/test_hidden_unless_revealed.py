"""Issue 24, Medium 1: one visibility rule, hidden unless revealed, for every reader.

A result whose split has no Split row (a re-import dropped or renamed a hidden split and kept its results) was
public on the API, the pages, results.json and the owner's email, while the per-sample reader treated it as hidden.
Now a result is shown only when its (benchmark, split) has a Split row that is revealed, everywhere.
"""
from __future__ import annotations

import json

from leaderboard.benchmarks.models import Split
from leaderboard.submissions.models import BenchmarkResult
from leaderboard.submissions.notifications import compose
from leaderboard.submissions.visibility import revealed_split_names, visible_results
from tests.security.conftest import World

MARKER = 12.3456  # the orphaned result's value, as any reader would print it


def orphan(world: World) -> BenchmarkResult:
    """A result on a split the benchmark no longer has (no Split row), plus a revealed 'dev' row beside it."""
    Split.objects.create(benchmark=world.benchmark, name="dev", num_samples=3, is_revealed=True)
    BenchmarkResult.objects.create(submission=world.submission, benchmark=world.benchmark, split="dev",
                                   metrics={"pve_all": 30.0}, primary_value=30.0, num_samples=3)
    return BenchmarkResult.objects.create(submission=world.submission, benchmark=world.benchmark, split="renamed-test",
                                          metrics={"pve_all": MARKER}, primary_value=MARKER, num_samples=3)


def test_a_result_without_a_split_row_is_hidden_from_every_reader(world: World):
    gone = orphan(world)
    owner = world.client("owner")
    uuid = world.submission.uuid
    revealed = {"dev", "test"}  # the world's benchmark has a revealed "test" split
    api = owner.get(f"/api/v1/submissions/{uuid}/").json()
    assert {r["split"] for r in api["results"]} == revealed
    listed = owner.get("/api/v1/submissions/").json()
    assert {r["split"] for s in listed["results"] for r in s["results"]} == revealed
    results_json = json.loads(owner.get(f"/submissions/{uuid}/results.json").content)
    assert {r["split"] for r in results_json["results"]} == revealed
    page = owner.get(f"/submissions/{uuid}/").content.decode()
    assert "renamed-test" not in page and f"{MARKER:.2f}" not in page
    subject, body = compose(world.submission)
    assert "renamed-test" not in body and f"{MARKER:.2f}" not in body and "dev" in body

    owner_sees = visible_results(world.users["owner"], world.submission.results.all())
    assert gone not in owner_sees and set(owner_sees.values_list("split", flat=True)) == revealed
    assert revealed_split_names(world.benchmark) == revealed  # the per-sample reader's view: the same rule
    staff = world.client("staff").get(f"/api/v1/submissions/{uuid}/").json()
    assert "renamed-test" in {r["split"] for r in staff["results"]}  # staff read everything


def test_revealing_a_split_shows_its_results_everywhere(world: World):
    orphan(world)
    Split.objects.create(benchmark=world.benchmark, name="renamed-test", num_samples=3, is_revealed=True)
    api = world.client("owner").get(f"/api/v1/submissions/{world.submission.uuid}/").json()
    assert {r["split"] for r in api["results"]} == {"dev", "test", "renamed-test"}
    assert f"{MARKER:.2f}" in compose(world.submission)[1]
