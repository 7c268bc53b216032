"""A researcher's journey in headless Chromium against gunicorn + a real Celery worker.

Sign up → create an API token → upload predictions on the submit page → watch the progress bar reach
100 % → publish → the row is on the public leaderboard. Screenshots go to test-artifacts/e2e/.
"""
from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import needs_chromium
from tests.fixtures_live import REPO_ROOT
from workers.synthetic import create_benchmark, noisy_predictions, write_npz

SHOTS = REPO_ROOT / "test-artifacts" / "e2e"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    needs_chromium,
]


@pytest.fixture
def page(browser):
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    return page


def api_get(base_url: str, path: str, token: str) -> tuple[int, dict]:
    url = urlsplit(base_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    conn.request("GET", path, headers={"Authorization": f"Token {token}", "Accept": "application/json"})
    response = conn.getresponse()
    return response.status, json.loads(response.read() or b"{}")


def test_sign_up_token_upload_progress_publish_leaderboard(live_stack, page, tmp_path):
    from playwright.sync_api import expect

    benchmark = create_benchmark("agora", 1024, splits=("test",))
    predictions = write_npz(tmp_path / "agora.npz", noisy_predictions(benchmark.gt_arrays, noise=0.03))
    live_stack.env_overrides.update(EVAL_SHARD_SIZE="256", EVAL_CHUNK_SIZE="128")
    live_stack.start_worker("w1")
    base = live_stack.start_gunicorn(workers=2)

    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=username]", "marta")
    page.fill("input[name=password1]", "a-long-Passphrase-42")
    page.fill("input[name=password2]", "a-long-Passphrase-42")
    page.screenshot(path=SHOTS / "01-signup.png", full_page=True)
    page.click("form button[type=submit], form input[type=submit]")
    page.wait_for_url(f"{base}/submit/")

    page.goto(f"{base}/accounts/token/")
    page.click("text=Create a token")
    token = page.locator("#token").inner_text().strip()
    assert len(token) == 40
    page.screenshot(path=SHOTS / "02-token.png", full_page=True)
    status, listing = api_get(base, "/api/v1/submissions/", token)
    assert status == 200 and listing["count"] == 0

    page.goto(f"{base}/submit/")
    page.check("input[name=kind][value=predictions]")
    page.check("input[name=benchmarks][value=agora]")
    page.set_input_files("input[name=file]", str(predictions))
    page.fill("input[name=method_name]", "Browser-Net")
    page.screenshot(path=SHOTS / "03-submit.png", full_page=True)
    page.click("text=Upload and evaluate")
    page.wait_for_url(f"{base}/submissions/**")
    page.screenshot(path=SHOTS / "04-submitted.png", full_page=True)

    # The page polls the status endpoint and reloads once the submission is final.
    expect(page.locator("[data-status-badge]")).to_have_text("Finished", timeout=120_000)
    expect(page.locator(".progress-bar")).to_have_attribute("style", "width: 100%")
    expect(page.locator("[data-progress-text]")).to_contain_text("4 / 4 shards done")
    page.screenshot(path=SHOTS / "05-finished.png", full_page=True)
    status, listing = api_get(base, "/api/v1/submissions/", token)
    assert status == 200 and listing["results"][0]["status"] == "finished"

    page.click("text=Publish to the leaderboard")
    expect(page.locator(".badge.public")).to_be_visible()
    page.goto(f"{base}/")
    row = page.locator("tr", has_text="Browser-Net")
    expect(row).to_have_count(1)
    mpe = listing["results"][0]["mpe"]
    expect(row).to_contain_text(f"{mpe:.1f}")
    page.screenshot(path=SHOTS / "06-leaderboard.png", full_page=True)
    page.goto(f"{base}/benchmarks/agora/")
    expect(page.locator("tr", has_text="Browser-Net")).to_have_count(1)
    page.screenshot(path=SHOTS / "07-benchmark.png", full_page=True)


def loaded_width(image) -> int:
    """The natural width of an <img> once loaded: lazy pictures may finish after the page's load event."""
    image.scroll_into_view_if_needed()
    image.page.wait_for_function("e => e.complete && e.naturalWidth > 0", arg=image.element_handle(), timeout=15_000)
    return image.evaluate("e => e.naturalWidth")


def draw_worst_samples(submission, benchmark) -> None:
    """Pictures of the failures page's worst samples as the workers store them (evaluator.render on synthetic bodies,
    failure_renders.store_renders); the split's GT public, every other picture showing it."""
    import dataclasses

    import numpy as np
    from django.conf import settings

    from evaluator import render
    from evaluator.body_model import load_body_model
    from evaluator.image_benchmark import sample_params
    from leaderboard.benchmarks.models import Split
    from leaderboard.submissions import failure_renders

    Split.objects.filter(benchmark=benchmark, name="dev").update(public_ground_truth=True)
    jobs = [dataclasses.replace(job, shows_gt=job.rank % 2 == 1)
            for job in failure_renders.render_jobs(submission, benchmark)]
    body = load_body_model(settings.SMPLX_MODEL_DIR, "cpu")
    rng = np.random.default_rng(0)
    params = {k: np.asarray(v, np.float32) for k, v in sample_params(len(jobs), rng).items()}
    params["transl"] = np.zeros((len(jobs), 3), np.float32)
    truth = render.align_to_pelvis(body.assets, body.vertices(params).double().numpy())
    params["right_hand_pose"] += rng.normal(0, 0.6, params["right_hand_pose"].shape).astype(np.float32)
    params["body_pose"] += rng.normal(0, 0.15, params["body_pose"].shape).astype(np.float32)
    predicted = render.align_to_pelvis(body.assets, body.vertices(params).double().numpy())
    faces = body.layer.faces_tensor.numpy()
    ids = render.part_ids(truth.shape[1], *(getattr(body.assets, k).numpy() for k in ("left_hand", "right_hand", "face")))
    pictures = [render.render_vertex_errors(predicted[i], truth[i], faces, ids) if job.shows_gt
                else render.render_part_errors(predicted[i], faces, ids, [60.0, 30.0, 150.0, None])
                for i, job in enumerate(jobs)]
    failure_renders.store_renders(submission, benchmark, jobs, pictures)


def test_boards_read_at_a_glance_at_1366_and_390(live_server, browser):
    """Issue 22 §3: at 390 px no page is cut off and the compare view shows every method (table and chart legend);
    a reported row is one line; 3DPW-like boards show only the columns the protocol produces. Screenshots of every
    page at both widths go to test-artifacts/e2e/."""
    from urllib.parse import quote

    from tests.web.test_boards_at_a_glance import CITATION, hand_benchmark, scored
    from django.contrib.auth.models import User
    from leaderboard.benchmarks.models import Benchmark, Split
    from leaderboard.submissions.models import BaselineSource, BenchmarkResult, Status, Submission

    owners = [User.objects.create_user(f"glance{i}") for i in range(4)]
    a, b = hand_benchmark("glance-a", "Glance A", 1), hand_benchmark("glance-b", "Glance B", 2)
    names = ["OSX-Wholebody-Large", "Multi-HMR 896 L with a long name", "Hand4Whole", "NoHands-B"]
    full = {"mpvpe_all": 50.0, "pa_mpvpe_all": 30.0, "mpvpe_hand": 20.0, "pa_mpvpe_hand": 10.0, "mpvpe_face": 15.5}
    compared = [scored(owners[i], name, {a: {k: v + i for k, v in full.items()}, b: full if i < 3 else {"mpvpe_all": 60.0}})
                for i, name in enumerate(names)]
    paper = Submission.objects.create(owner=owners[0], method_name="SMPLer-X-H32* [3DPW camera fix (2024-03)]", mpe=59.7,
                                      status=Status.FINISHED, baseline_source=BaselineSource.REPORTED, citation=CITATION,
                                      paper_url="https://example.org/p")
    BenchmarkResult.objects.create(submission=paper, benchmark=a, split="test", num_samples=4, primary_value=59.7,
                                   metrics={"mpvpe_all": 59.7}, protocol="as published", protocol_version="paper")
    from leaderboard.submissions.models import Efficiency

    for i, (ms, source) in enumerate([(41.5, "measured"), (7.2, "reported"), (350.0, "measured")]):  # issue 22 §5
        Efficiency.objects.create(submission=compared[i], benchmark=a, source=source, ms_per_image=ms,
                                  params=32_008_024 * (i + 1), peak_memory_mb=900.0, device="cpu")
    Submission.objects.filter(pk=compared[0].pk).update(checkpoint_sha256="ab" * 32, code_commit="0123456789abcdef",
                                                        baseline_source=BaselineSource.COMPUTED)
    from tests.web.test_failures import evaluated, url

    fails = Benchmark.objects.create(slug="glance-fail", name="Glance Fail", gt_path="gt/glance-fail/gt.npz",
                                     counts_toward_mpe=False, counts_toward_hand_mpe=False)
    Split.objects.create(benchmark=fails, name="dev", is_ranking=True, is_revealed=True, num_samples=30)
    Split.objects.create(benchmark=fails, name="test", is_revealed=False, num_samples=10)
    failing = evaluated(owners[1], fails, public=True)
    draw_worst_samples(failing, fails)
    compare = "/compare/?" + "&".join(f"s={s.uuid}" for s in compared)
    pages = {"overall": "/", "benchmark": f"/benchmarks/{a.slug}/", "compare": compare,
             "method": f"/methods/{quote(names[1])}", "submission": compared[0].get_absolute_url(),
             "failures": url(failing, fails)}
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1366, 390):
        page = browser.new_context(viewport={"width": width, "height": 900}).new_page()
        for name, path in pages.items():
            page.goto(live_server.url + path)
            page.screenshot(path=SHOTS / f"glance-{name}-{width}.png", full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") == width, (name, width)
        page.goto(live_server.url + compare)
        # Every method's column is inside the viewport (no table scrolled sideways hides one) ...
        for header in page.locator("table.compare-table thead th.num").all():
            box = header.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (header.inner_text(), box, width)
        # ... and the visible chart's legend names every method.
        chart = page.locator("svg.chart-compact" if width == 390 else "svg.chart.compare").first
        legend = chart.evaluate("e => e.textContent")
        assert all(n in legend for n in names), legend
        page.goto(live_server.url + pages["failures"])  # issue 22 §4: the workers' pictures, both kinds, loaded
        pictures = page.locator("figure.render img")
        assert pictures.count() == 12
        for i in (0, 1):
            assert loaded_width(pictures.nth(i)) == 384
            box = pictures.nth(i).bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
        page.locator("#renders").screenshot(path=SHOTS / f"glance-renders-{width}.png")
        page.goto(live_server.url + failing.get_absolute_url())  # the worst picture, small, links to the failures page
        thumb = page.locator("a.worst-thumb img")
        assert loaded_width(thumb) == 384
        box = thumb.bounding_box()
        assert box["width"] == 96 and box["x"] + box["width"] <= width
        assert page.evaluate("document.documentElement.scrollWidth") == width
        page.locator("p.worst-link").screenshot(path=SHOTS / f"glance-worst-thumb-{width}.png")
        page.screenshot(path=SHOTS / f"glance-submission-renders-{width}.png", full_page=True)
        page.goto(live_server.url + pages["benchmark"])  # a computed row's provenance, opened
        page.locator("details.provenance summary").first.click()
        page.screenshot(path=SHOTS / f"glance-provenance-{width}.png", full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth") == width
        assert "smplx-generic" in page.locator("details.provenance").first.inner_text()
        page.goto(live_server.url + "/")
        speed = page.locator("svg.chart.speed")
        assert speed.is_visible() and speed.locator("circle.point").count() == 3
        assert speed.bounding_box()["x"] + speed.bounding_box()["width"] <= width
        line = page.locator(".method.one-line").first.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20")
        assert page.locator(".method.one-line").first.bounding_box()["height"] <= 1.5 * line
        why = page.locator("tr", has_text="NoHands-B").locator("abbr.why").first.get_attribute("title")
        assert why == "No Hand MPE: Glance B has no PVE (hands) for it", why
        page.context.close()
