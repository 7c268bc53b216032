"""Failure renders through the pipeline (issue 22 §4): drawn by the workers after finalize, the injected outlier
first, GT only on a public-GT split, never a hidden split's sample, never for a model run; served under the page's
rules (owner, everyone once published) and re-checked at each request."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from django.test import Client
from PIL import Image

from leaderboard.benchmarks.models import Split
from leaderboard.storage import PRIVATE, delete_prefix, list_names, open_file, put_bytes
from leaderboard.submissions import failure_renders
from leaderboard.submissions.models import Status, Submission, SubmissionKind
from workers import pipeline
from workers.renders import render_worst_samples
from workers.synthetic import create_benchmark, create_submission

pytestmark = pytest.mark.django_db(transaction=True)
OUTLIER, SECRET = 4, 2  # GT rows: splits cycle dev, val, test, so row 4 is on val (public GT), row 2 on test (hidden)


def inject(submission, benchmark) -> None:
    """The val sample's right forearm bent 2 rad; the hidden sample turned upside down (worse still)."""
    name = submission.predictions_name(benchmark.slug)
    with open_file(PRIVATE, name) as handle:
        with np.load(io.BytesIO(handle.read())) as data:
            arrays = {k: data[k].copy() for k in data.files}
    ids = benchmark.gt_arrays["sample_ids"]
    row = {str(s): i for i, s in enumerate(arrays["sample_ids"])}
    arrays["body_pose"][row[str(ids[OUTLIER])], 18 * 3 + 2] += 2.0  # right elbow (body joint 19)
    arrays["global_orient"][row[str(ids[SECRET])], 0] += 3.0
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    put_bytes(PRIVATE, name, buffer.getvalue())


@pytest.fixture
def drawn(eager, settings, alice):
    settings.EVAL_SHARD_SIZE, settings.EVAL_CHUNK_SIZE = 8, 8
    benchmark = create_benchmark("renders", 27, splits=("dev", "val", "test"), ranking="dev", hidden_splits=["test"],
                                 public_gt_splits=["val"])
    submission = create_submission(alice, [benchmark], noise=0.01)
    inject(submission, benchmark)
    pipeline.start_evaluation(submission.pk)  # finalize -> events.submission_finalised -> render_worst_samples
    submission = Submission.objects.get(pk=submission.pk)
    assert submission.status == Status.FINISHED, submission.error_message
    return submission, benchmark


def stored(submission, benchmark) -> tuple[list[dict], dict[str, bytes]]:
    prefix = failure_renders.folder(submission, benchmark.slug)
    files = {}
    for name in list_names(PRIVATE, prefix):
        with open_file(PRIVATE, name if name.startswith(prefix) else prefix + name) as handle:
            files[name.rsplit("/", 1)[-1]] = handle.read()
    return json.loads(files.pop(failure_renders.INDEX)), files


def reddish(png: bytes) -> int:
    image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int64)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return int(((r > 2.5 * g) & (r > 2.5 * b) & (r > 50)).sum())


def png_url(submission, benchmark, rank: int) -> str:
    return f"/submissions/{submission.uuid}/failures/{benchmark.slug}/render/{rank}.png"


def test_outlier_first_gt_only_where_public_never_a_hidden_sample_and_the_same_bytes_again(drawn):
    submission, benchmark = drawn
    index, files = stored(submission, benchmark)
    ids, splits = benchmark.gt_arrays["sample_ids"], benchmark.gt_arrays["splits"]
    assert len(index) == 12 and sorted(files) == [f"{r:02d}.png" for r in range(1, 13)]
    assert index[0] == {"rank": 1, "sample_id": str(ids[OUTLIER]), "split": "val", "shows_gt": True}
    assert {e["split"] for e in index} == {"dev", "val"}  # the hidden (and worse) sample is never drawn
    assert all(e["shows_gt"] == (e["split"] == "val") for e in index)
    assert str(ids[SECRET]) not in json.dumps(index) and "test" == splits[SECRET]
    # the outlier's bent arm takes the top of the colour scale; a well predicted sample has none of it
    assert reddish(files["01.png"]) > 200 and reddish(files["12.png"]) == 0
    render_worst_samples.apply(args=(submission.pk,))
    assert stored(submission, benchmark) == (index, files)  # drawn again: the same bytes


def test_served_to_the_owner_then_everyone_and_stopped_when_a_split_is_hidden_or_its_gt_made_secret(drawn, alice):
    submission, benchmark = drawn
    owner = Client()
    owner.force_login(alice)
    page = owner.get(f"/submissions/{submission.uuid}/failures/{benchmark.slug}/").content.decode()
    assert page.count('class="render"') == 12 and png_url(submission, benchmark, 1) in page
    # the submission page: the worst picture, as a thumbnail linking to the failures page
    page = owner.get(f"/submissions/{submission.uuid}/").content.decode()
    assert page.count('class="worst-thumb"') == 1 and f'src="{png_url(submission, benchmark, 1)}"' in page
    response = owner.get(png_url(submission, benchmark, 1))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert Client().get(png_url(submission, benchmark, 1)).status_code == 404  # private until published
    Submission.objects.filter(pk=submission.pk).update(is_public=True)
    assert Client().get(png_url(submission, benchmark, 1)).status_code == 200
    assert owner.get(png_url(submission, benchmark, 13)).status_code == 404

    index, _ = stored(submission, benchmark)
    gt_ranks = [e["rank"] for e in index if e["shows_gt"]]
    Split.objects.filter(benchmark=benchmark, name="val").update(public_ground_truth=False)
    assert all(owner.get(png_url(submission, benchmark, r)).status_code == 404 for r in gt_ranks)
    Split.objects.filter(benchmark=benchmark, name="val").update(public_ground_truth=True, is_revealed=False)
    assert all(owner.get(png_url(submission, benchmark, r)).status_code == 404 for r in gt_ranks)
    page = owner.get(f"/submissions/{submission.uuid}/failures/{benchmark.slug}/").content.decode()
    assert page.count('class="render"') == 12 - len(gt_ranks) and str(benchmark.gt_arrays["sample_ids"][OUTLIER]) not in page
    first_shown = min(set(range(1, 13)) - set(gt_ranks))  # val hidden again: the thumbnail is the worst still shown
    page = owner.get(f"/submissions/{submission.uuid}/").content.decode()
    assert f'src="{png_url(submission, benchmark, first_shown)}"' in page and png_url(submission, benchmark, 1) not in page


def test_a_model_run_is_never_drawn_nor_served(drawn, alice):
    submission, benchmark = drawn
    prefix = failure_renders.folder(submission, benchmark.slug)
    Submission.objects.filter(pk=submission.pk).update(kind=SubmissionKind.CONTAINER, is_public=True)
    owner = Client()
    owner.force_login(alice)
    assert owner.get(png_url(submission, benchmark, 1)).status_code == 404  # stored pictures are not served
    assert "worst-thumb" not in owner.get(f"/submissions/{submission.uuid}/").content.decode()
    delete_prefix(PRIVATE, prefix)
    assert render_worst_samples.apply(args=(submission.pk,)).get() == {"drawn": {}}
    assert list_names(PRIVATE, prefix) == []


def test_a_split_revealed_later_or_given_public_gt_is_drawn_again(drawn, admin_client):
    submission, benchmark = drawn
    test = Split.objects.get(benchmark=benchmark, name="test")
    # The admin's bulk reveal (confirmed): the hidden, worse sample is now drawn first, without GT.
    response = admin_client.post("/admin/benchmarks/split/", {"action": "reveal_splits", "confirm": "yes",
                                                               "_selected_action": [test.pk]})
    assert response.status_code == 302
    index, files = stored(submission, benchmark)
    ids = benchmark.gt_arrays["sample_ids"]
    assert index[0] == {"rank": 1, "sample_id": str(ids[SECRET]), "split": "test", "shows_gt": False}
    assert len(files) == 12 and index[1]["sample_id"] == str(ids[OUTLIER])
    # Its GT published (a save, as the admin's split form makes): drawn again, now with the GT mesh.
    test.refresh_from_db()
    test.public_ground_truth = True
    test.save()
    index, _ = stored(submission, benchmark)
    assert index[0] == {"rank": 1, "sample_id": str(ids[SECRET]), "split": "test", "shows_gt": True}
