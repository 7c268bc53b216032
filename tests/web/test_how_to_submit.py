"""The benchmark page's "How to submit": a key table from the checker's own rules, and files that pass the upload."""
from __future__ import annotations

import io
import re

import numpy as np
from django.test import Client

from evaluator import formats
from evaluator.submission_format import prediction_keys
from leaderboard.benchmarks.services import public_sample_ids
from leaderboard.submissions.uploads import validate_predictions


def page(benchmark) -> str:
    response = Client().get(f"/benchmarks/{benchmark.slug}/")
    assert response.status_code == 200
    return response.content.decode()


def test_key_table_lists_every_key_the_checker_accepts(bench):
    html = page(bench[0])
    table = html[html.index('id="how-to-submit"'):]
    expected = {formats.SAMPLE_IDS, formats.VERTICES, *formats.PARAM_SHAPES}
    listed = set(re.findall(r"<tr><td><code>([a-z_]+)</code>", table))
    assert listed == expected
    # The shapes shown are the checker's (canonical first), with N for the sample count.
    assert "(N, 21, 3) or (N, 63)" in table and "(N, 10)" in table and f"(N, {formats.VERTEX_SHAPE[0]}, 3)" in table
    optional = {k.key for k in prediction_keys()["params"] if not k.required}
    assert optional == set(formats.OPTIONAL_PARAMS)


def test_page_links_data_downloads_checker_and_submit(bench):
    benchmark = bench[0]
    benchmark.data_url = "https://example.org/data"
    benchmark.save()
    html = page(benchmark)
    for link in ("https://example.org/data", f"/benchmarks/{benchmark.slug}/sample_ids.txt",
                 f"/benchmarks/{benchmark.slug}/template.npz", f"/submit/?benchmark={benchmark.slug}"):
        assert f'href="{link}"' in html, link
    assert f"ehps check {benchmark.slug}.npz --benchmark {benchmark.slug}" in html
    assert "pip install ./client" in html and "pip install .  " not in html  # the light client, not the server
    assert f"ehps submit {benchmark.slug}.npz --benchmark {benchmark.slug}" in html


def test_protocol_shown_when_the_benchmark_declares_one(bench):
    benchmark = bench[0]
    if not hasattr(benchmark, "protocol"):
        html = page(benchmark)
        assert "Protocol <strong>" not in html  # nothing invented before Benchmark.protocol exists
        return
    benchmark.protocol = "smplx-generic"
    benchmark.save()
    assert "Protocol <strong>smplx-generic</strong>" in page(benchmark)


def test_sample_id_list_is_the_public_ids_only(bench):
    benchmark = bench[0]
    response = Client().get(f"/benchmarks/{benchmark.slug}/sample_ids.txt")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/plain")
    ids = response.content.decode().splitlines()
    assert ids == public_sample_ids(benchmark).tolist()


def test_template_passes_the_upload_checks_unchanged(bench, tmp_path):
    benchmark = bench[0]
    response = Client().get(f"/benchmarks/{benchmark.slug}/template.npz")
    assert response.status_code == 200
    assert f'filename="{benchmark.slug}.npz"' in response["Content-Disposition"]
    path = tmp_path / f"{benchmark.slug}.npz"
    path.write_bytes(response.content)
    assert validate_predictions(path, benchmark, path.name) == benchmark.num_samples
    with np.load(io.BytesIO(response.content), allow_pickle=False) as npz:
        assert set(npz.files) == {formats.SAMPLE_IDS, *formats.PARAM_SHAPES}
        assert all(np.all(npz[k] == 0) for k in formats.PARAM_SHAPES)


def test_downloads_of_an_unknown_benchmark_are_404(db):
    assert Client().get("/benchmarks/nope/template.npz").status_code == 404
    assert Client().get("/benchmarks/nope/sample_ids.txt").status_code == 404


def test_submit_page_links_how_to_submit_and_shows_quota_left(alice, bench, logged_in, settings):
    from leaderboard.submissions.models import Status, Submission

    settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY, settings.MAX_SUBMISSIONS_IN_PROGRESS = 5, 3
    benchmark = bench[0]
    done = Submission.objects.create(owner=alice, method_name="a", status=Status.FINISHED)
    done.benchmarks.add(benchmark)
    running = Submission.objects.create(owner=alice, method_name="b", status=Status.RUNNING)
    running.benchmarks.add(benchmark)
    failed = Submission.objects.create(owner=alice, method_name="c", status=Status.FAILED)  # does not count
    failed.benchmarks.add(benchmark)
    html = logged_in(alice).get("/submit/").content.decode()
    assert f'href="/benchmarks/{benchmark.slug}/#how-to-submit"' in html
    assert "In progress: <strong>1 of 3</strong>" in html
    assert re.search(r"<strong>3 of 5</strong>\s+left today", html)
    assert "see the highlighted" not in html and "the API page</a> for the exact keys" not in html


def test_models_only_benchmark_explains_model_submission_and_keeps_its_sample_ids(bench):
    """Models only: the ids stay with the held-out inputs, so no id list, no template, no predictions-file steps."""
    benchmark = bench[0]
    benchmark.accepts_predictions = False
    benchmark.save()
    html = page(benchmark)
    how_to = html[html.index('id="how-to-submit"'):]
    assert "data-models-only" in how_to and "/output/predictions.npz" in how_to and "--kind container" in how_to
    assert "sample_ids.txt" not in html and "template.npz" not in html and "ehps check" not in how_to
    for name in ("sample_ids.txt", "template.npz"):
        response = Client().get(f"/benchmarks/{benchmark.slug}/{name}")
        assert response.status_code == 404 and b"accepts models only" in response.content, name


def test_models_only_whole_image_benchmark_says_whole_images_and_people(db):
    """A models-only multi-person benchmark: whole images, no boxes, a row per person found, the people keys."""
    from leaderboard.benchmarks.testing import make_multiperson_benchmark

    benchmark = make_multiperson_benchmark("mp-models", images=3, seed=1)[0]
    benchmark.accepts_predictions = False
    benchmark.save()
    how_to = page(benchmark)
    how_to = how_to[how_to.index('id="how-to-submit"'):]
    assert "data-models-only" in how_to and "no person boxes" in how_to and "(1, 3, H, W)" in how_to
    assert "person crops" not in how_to and "person box)" not in how_to
    assert "Keys: people of whole images" in how_to and "Keys: SMPL-X parameters" not in how_to
