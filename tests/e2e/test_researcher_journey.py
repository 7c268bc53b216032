"""The researcher's journey of issue 13 in headless Chromium, gunicorn and a real Celery worker:

benchmark page -> download the template -> fill it -> check it offline -> submit with the ``ehps`` CLI -> the
"finished" email in the worker's console backend -> publish -> one row per user on the leaderboard -> compare view.

Then every page is screenshotted at 1366 and 390 px (test-artifacts/e2e/pages/) and checked for horizontal overflow
at 390 px.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.e2e.conftest import needs_chromium
from tests.fixtures_live import REPO_ROOT, wait_until
from workers.synthetic import create_benchmark

SHOTS = REPO_ROOT / "test-artifacts" / "e2e" / "pages"
WIDTHS = {"desktop": (1366, 900), "mobile": (390, 844)}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(420),
    needs_chromium,
]


def ehps(*args: str) -> subprocess.CompletedProcess:
    """The CLI as a researcher runs it (a separate process; ``ehps`` is ``python -m ehps_client``)."""
    return subprocess.run([sys.executable, "-m", "ehps_client", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=240)


def check_offline(path: Path, slug: str) -> None:
    """``ehps check`` with the downloaded sample-id list next to the file: no server involved."""
    done = subprocess.run([sys.executable, "-m", "ehps_client", "check", path.name, "--benchmark", slug, "--url",
                           "http://127.0.0.1:9"], cwd=path.parent, env={**os.environ, "PYTHONPATH": str(REPO_ROOT / "client")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def has_per_sample_api() -> bool:
    from django.urls import NoReverseMatch, reverse

    try:
        reverse("api-submission-per-sample", args=["00000000-0000-0000-0000-000000000000"])
    except NoReverseMatch:
        return False
    return True


def screenshot_everything(browser, base: str, session_cookie: dict, pages: dict[str, str]) -> list[str]:
    """Each page at both widths; returns the pages wider than the 390 px viewport (horizontal scrolling)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    overflowing = []
    for label, (width, height) in WIDTHS.items():
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies([session_cookie])
        page = context.new_page()
        for name, path in pages.items():
            page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SHOTS / f"{name}-{label}.png", full_page=True)
            if label == "mobile":
                scroll_width = page.evaluate("document.documentElement.scrollWidth")
                if scroll_width > width:
                    overflowing.append(f"{name} ({scroll_width} px)")
        context.close()
    return overflowing


def test_template_to_cli_submission_to_email_to_leaderboard(live_stack, browser, tmp_path):
    from playwright.sync_api import expect

    from leaderboard.submissions.models import Submission

    benchmark = create_benchmark("agora", 512, splits=("test",), data_url="https://agora.is.tue.mpg.de/")
    base = live_stack.start_gunicorn(workers=2)
    live_stack.env_overrides.update(EVAL_SHARD_SIZE="256", EVAL_CHUNK_SIZE="128", SITE_URL=base)
    live_stack.start_worker("w1")  # EMAIL_BACKEND is the console backend by default: mail goes to the worker log
    context = browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(30_000)

    # Sign up (with an email address, for the notification) and create an API token.
    page.goto(f"{base}/accounts/signup/")
    page.fill("input[name=username]", "lena")
    page.fill("input[name=email]", "lena@example.org")
    page.fill("input[name=password1]", "a-long-Passphrase-42")
    page.fill("input[name=password2]", "a-long-Passphrase-42")
    page.click("form.panel button[type=submit]")
    page.wait_for_url(f"{base}/submit/")
    # Confirm the address (the link the confirmation mail carries; until then the site mails it nothing else).
    from django.contrib.auth.models import User

    from leaderboard.accounts.verification import verification_token

    page.goto(f"{base}/accounts/verify-email/{verification_token(User.objects.get(username='lena'))}/")
    expect(page.locator("main")).to_contain_text("is confirmed")
    page.goto(f"{base}/accounts/token/")
    page.click("text=Create a token")
    token = page.locator("#token").inner_text().strip()

    # The benchmark page says how to submit; download the template and the sample-id list from it.
    page.goto(f"{base}/benchmarks/agora/")
    how_to = page.locator("#how-to-submit")
    expect(how_to).to_contain_text("ehps check agora.npz --benchmark agora")
    expect(how_to.locator("a[href='https://agora.is.tue.mpg.de/']")).to_have_count(1)
    with page.expect_download() as download:
        how_to.locator("a", has_text="template").click()
    template = tmp_path / "template.npz"
    download.value.save_as(template)
    with page.expect_download() as download:
        how_to.locator("a", has_text="sample-id list").click()
    ids_file = tmp_path / "agora-sample_ids.txt"  # the name the page gives it, where the checker looks for it
    download.value.save_as(ids_file)
    sample_ids = ids_file.read_text().splitlines()
    assert len(sample_ids) == 512

    # Fill the template with "predictions" (the GT plus noise, row by row through the sample ids).
    gt = benchmark.gt_arrays
    row_of = {sid: i for i, sid in enumerate(gt["sample_ids"].tolist())}
    with np.load(template, allow_pickle=False) as npz:
        filled = {k: npz[k].copy() for k in npz.files}
    rows = np.array([row_of[s] for s in filled["sample_ids"].tolist()])
    rng = np.random.default_rng(5)
    for key, value in filled.items():
        if key != "sample_ids" and key in gt:
            value[...] = gt[key][rows].reshape(value.shape) + rng.normal(0, 0.02, value.shape)
    predictions = tmp_path / "agora.npz"
    np.savez(predictions, **filled)
    check_offline(predictions, "agora")

    # Submit with the CLI and wait for the evaluation.
    done = ehps("--url", base, "--token", token, "submit", str(predictions), "--benchmark", "agora",
                "--method", "Journey-Net", "--wait", "--interval", "1")
    assert done.returncode == 0, done.stdout + done.stderr + live_stack.worker_logs()
    assert "submitted " in done.stdout and "MPE:" in done.stdout
    submission = Submission.objects.get(method_name="Journey-Net")
    assert submission.status == "finished"

    # The owner's email, printed by the console backend into the worker's log.
    log = live_stack.logdir / "worker-w1.log"
    wait_until(lambda: "Journey-Net: finished" in log.read_text(errors="replace"), 60, 0.5, "the notification email")
    mail = log.read_text(errors="replace")
    assert "To: lena@example.org" in mail and f"{base}/submissions/{submission.uuid}/" in mail

    published = ehps("--url", base, "--token", token, "publish", str(submission.uuid))
    assert published.returncode == 0, published.stderr
    # A second, rougher method of the same user: the board keeps one row per user (their best) by default.
    rough = dict(filled)
    for key, value in rough.items():
        if key != "sample_ids":
            rough[key] = value + rng.normal(0, 0.05, value.shape).astype(value.dtype)
    rough_file = tmp_path / "rough" / "agora.npz"
    rough_file.parent.mkdir()
    np.savez(rough_file, **rough)
    second = ehps("--url", base, "--token", token, "submit", str(rough_file), "--benchmark", "agora",
                  "--method", "Journey-Rough", "--wait", "--interval", "1")
    assert second.returncode == 0, second.stdout + second.stderr
    rough_id = Submission.objects.get(method_name="Journey-Rough").uuid
    assert ehps("--url", base, "--token", token, "publish", str(rough_id)).returncode == 0
    page.goto(f"{base}/benchmarks/agora/")
    board_rows = page.locator("table.board tbody tr")
    expect(board_rows.filter(has_text="Journey-Net")).to_have_count(1)
    expect(board_rows.filter(has_text="Journey-Rough")).to_have_count(0)
    page.click("text=All submissions")
    expect(page.locator("table.board tbody tr").filter(has_text="Journey-Rough")).to_have_count(1)
    # The two methods side by side (the compare view: table per body part + chart).
    compare_path = f"/compare/?s={submission.uuid}&s={rough_id}"
    page.goto(f"{base}{compare_path}")
    expect(page.locator("table.compare-table").first).to_contain_text("Journey-Net")
    expect(page.locator("table.compare-table").first).to_contain_text("Journey-Rough")
    expect(page.locator("svg").first).to_be_visible()
    listing = ehps("--url", base, "leaderboard", "agora", "--csv")
    assert listing.returncode == 0 and "Journey-Net" in listing.stdout
    downloaded = ehps("--url", base, "--token", token, "download", str(submission.uuid), "--out", str(tmp_path / "dl"))
    assert downloaded.returncode == 0, downloaded.stderr
    assert (tmp_path / "dl" / f"results-{submission.uuid}.json").is_file()
    if has_per_sample_api():
        per_sample = (tmp_path / "dl" / f"per-sample-{submission.uuid}-agora.csv").read_text().splitlines()
        assert len(per_sample) == 1 + 512, downloaded.stderr
    context.close()

    # Every page at 1366 and 390 px, logged in (a session cookie from a fresh login).
    tour = browser.new_context()
    tour_page = tour.new_page()
    tour_page.goto(f"{base}/accounts/login/")
    tour_page.fill("input[name=username]", "lena")
    tour_page.fill("input[name=password]", "a-long-Passphrase-42")
    tour_page.click("form.panel button[type=submit]")
    session = next(c for c in tour.cookies() if c["name"] == "sessionid")
    tour.close()
    pages = {
        "home": "/", "benchmark": "/benchmarks/agora/", "submit": "/submit/", "submission": f"/submissions/{submission.uuid}/",
        "my-submissions": "/submissions/mine/", "api": "/api/", "token": "/accounts/token/", "swagger": "/api/v1/docs/",
        "redoc": "/api/v1/redoc/", "not-found": "/no/such/page/", "compare": compare_path,
        "method": "/methods/Journey-Net",
    }
    overflowing = screenshot_everything(browser, base, session, pages)
    anonymous = {"login": "/accounts/login/", "signup": "/accounts/signup/", "password-reset": "/accounts/password-reset/"}
    overflowing += screenshot_everything(browser, base, {**session, "value": "logged-out"}, anonymous)
    assert not [p for p in overflowing if not p.startswith(("swagger", "redoc"))], overflowing
