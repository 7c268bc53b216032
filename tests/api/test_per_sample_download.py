"""Owner download of per-sample errors (web + API): revealed splits only; a hidden split's values are never served."""
from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from django.test import Client

from leaderboard.benchmarks.models import Split
from leaderboard.submissions.models import Status, Submission
from workers import pipeline
from workers.synthetic import create_benchmark, create_submission

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def evaluated(eager, settings, alice):
    """A finished submission on a benchmark with a revealed 'dev' and a hidden 'test' split, plus a hidden-only one."""
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 8, 8
    mixed = create_benchmark("mixed", 20, splits=("dev", "test"), ranking="dev", hidden_splits=["test"])
    hidden = create_benchmark("hidden-only", 8, seed=5, hidden_splits=["test"])
    submission = create_submission(alice, [mixed, hidden])
    pipeline.start_evaluation(submission.pk)
    submission = Submission.objects.get(pk=submission.pk)
    assert submission.status == Status.FINISHED, submission.error_message
    return submission, mixed, hidden


def hidden_ids(benchmark) -> set[str]:
    gt = benchmark.gt_arrays
    return {str(i) for i, s in zip(gt["sample_ids"], gt["splits"]) if s == "test"}


def web_url(submission, slug, fmt="csv") -> str:
    return f"/submissions/{submission.uuid}/per-sample/{slug}.{fmt}"


def api(client: Client, submission, **params):
    return client.get(f"/api/v1/submissions/{submission.uuid}/per-sample/", params)


def test_owner_gets_revealed_rows_only_as_csv_and_npz(evaluated, alice):
    submission, mixed, _ = evaluated
    client = Client()
    client.force_login(alice)
    response = client.get(web_url(submission, "mixed"))
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response.streaming  # issue 24, Low: streamed, never built whole in the web process
    rows = list(csv.DictReader(io.StringIO(response.getvalue().decode())))
    dev = int(Split.objects.get(benchmark=mixed, name="dev").num_samples)
    assert len(rows) == dev > 0 and {r["split"] for r in rows} == {"dev"}
    assert not {r["sample_id"] for r in rows} & hidden_ids(mixed)
    result = submission.results.get(benchmark=mixed, split="dev")
    assert np.mean([float(r["mpvpe_all"]) for r in rows]) == pytest.approx(result.metrics["mpvpe_all"], abs=1e-5)

    via_api = api(client, submission, benchmark="mixed", file_format="npz")
    assert via_api.status_code == 200
    with np.load(io.BytesIO(via_api.content), allow_pickle=False) as data:
        assert set(data["split"]) == {"dev"} and len(data["sample_id"]) == dev
        assert not set(map(str, data["sample_id"])) & hidden_ids(mixed)
    page = client.get(submission.get_absolute_url()).content.decode()
    assert web_url(submission, "mixed") in page and web_url(submission, "hidden-only") not in page


def test_hidden_split_values_are_never_served(evaluated, alice, django_user_model):
    submission, mixed, hidden = evaluated
    owner, staff = Client(), Client()
    owner.force_login(alice)
    staff.force_login(django_user_model.objects.create_user("root", password="pw-root-123", is_staff=True))
    for client in (owner, staff):
        response = client.get(web_url(submission, "hidden-only"))
        assert response.status_code == 404
        response = api(client, submission, benchmark="hidden-only")
        assert response.status_code == 404 and "revealed" in response.json()["detail"]
        body = client.get(web_url(submission, "mixed")).getvalue().decode()
        assert "test" not in {row.split(",")[1] for row in body.splitlines()[1:]}

    Split.objects.filter(benchmark=mixed, name="test").update(is_revealed=True)  # revealed: now it is served
    rows = list(csv.DictReader(io.StringIO(owner.get(web_url(submission, "mixed")).getvalue().decode())))
    assert {r["split"] for r in rows} == {"dev", "test"} and len(rows) == 20


def test_only_the_owner_and_bad_requests_get_clear_errors(evaluated, bob):
    submission, _, _ = evaluated
    Submission.objects.filter(pk=submission.pk).update(is_public=True)  # published: still not bob's to download
    other = Client()
    other.force_login(bob)
    assert other.get(web_url(submission, "mixed")).status_code == 404
    assert api(other, submission, benchmark="mixed").status_code == 404
    assert Client().get(web_url(submission, "mixed")).status_code == 302  # to the log-in page
    assert api(Client(), submission, benchmark="mixed").status_code == 401

    owner = Client()
    owner.force_login(submission.owner)
    response = api(owner, submission, benchmark="nope")
    assert response.status_code == 400 and "nope" in response.json()["detail"]
    response = api(owner, submission, benchmark="mixed", file_format="xlsx")
    assert response.status_code == 404 and "xlsx" in response.json()["detail"]
    assert owner.get(web_url(submission, "mixed", "xlsx")).status_code == 404


@pytest.mark.parametrize("model_run", ["model submission", "models-only benchmark"])
def test_model_runs_on_held_out_images_report_aggregates_only(evaluated, alice, model_run):
    """Issue 24 High 1: a model's per-sample rows are values it controls on held-out images (a channel out of them)."""
    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions.models import SubmissionKind

    submission, mixed, _ = evaluated
    if model_run == "model submission":
        Submission.objects.filter(pk=submission.pk).update(kind=SubmissionKind.MODEL_ARCHIVE)
    else:
        Benchmark.objects.filter(pk=mixed.pk).update(accepts_predictions=False)
    owner = Client()
    owner.force_login(alice)
    for response in (owner.get(web_url(submission, "mixed")), owner.get(web_url(submission, "mixed", "npz")),
                     api(owner, submission, benchmark="mixed"), api(owner, submission, benchmark="mixed", file_format="npz")):
        body = response.getvalue().decode()
        assert response.status_code == 404 and not any(str(i) in body for i in mixed.gt_arrays["sample_ids"])
        assert "aggregate" in body or "/api/" not in response.request["PATH_INFO"]  # the API says why
    page = owner.get(submission.get_absolute_url()).content.decode()
    assert "/per-sample/" not in page and "Per-sample errors" not in page
    assert "mpvpe_all" in submission.results.get(benchmark=mixed, split="dev").metrics  # the aggregates stay


def test_the_csv_streams_in_chunks_with_the_header_first():
    from leaderboard.submissions.per_sample import PerSampleTable

    arrays = {"sample_id": np.array(["a", "b", "c"]), "split": np.array(["dev"] * 3), "mpvpe_all": np.array([1.5, np.nan, 3.0])}
    table = PerSampleTable(None, ["sample_id", "split", "mpvpe_all"], arrays)
    chunks = list(table.iter_csv(rows_per_chunk=2))
    assert chunks == ["sample_id,split,mpvpe_all\r\na,dev,1.5\r\nb,dev,\r\n", "c,dev,3.0\r\n"]
    empty = PerSampleTable(None, ["sample_id", "split"], {"sample_id": np.array([]), "split": np.array([])})
    assert list(empty.iter_csv()) == ["sample_id,split\r\n"]
