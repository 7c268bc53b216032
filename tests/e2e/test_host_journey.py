"""A host's journey in headless Chromium against gunicorn + a real Celery worker (issue 21).

Log in as staff → import a benchmark on the site from a .zip bundle → watch the progress bar reach 100 % and read
the report → reveal its hidden split in the admin (confirmation page) → the board shows the revealed split.
Screenshots of the host pages and the board at 1366 and 390 px go to test-artifacts/e2e/host-*.png.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import needs_chromium
from tests.e2e.test_researcher_journey import SHOTS, screenshot_everything
from tests.host_imports import gt_file, zip_bundle

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300), needs_chromium]

PASSWORD = "a-long-Passphrase-42"


def test_import_from_the_site_reveal_the_split_see_the_board(live_stack, browser, tmp_path):
    from django.contrib.auth.models import User
    from playwright.sync_api import expect

    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions.models import BenchmarkResult, Status, Submission
    from leaderboard.submissions.scores import recompute_scores

    User.objects.create_user("hostess", password=PASSWORD, is_staff=True, is_superuser=True)
    bundle = tmp_path / "release.zip"
    bundle.write_bytes(zip_bundle({"release/gt.npz": gt_file(tmp_path)}).getvalue())
    base = live_stack.start_gunicorn(workers=2)
    live_stack.start_worker("w1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)

    page.goto(f"{base}/accounts/login/?next=/host/import/")
    page.fill("input[name=username]", "hostess")
    page.fill("input[name=password]", PASSWORD)
    page.click("form.panel button[type=submit]")
    page.wait_for_url(f"{base}/host/import/")
    page.fill("input[name=slug]", "host-bench")
    page.fill("input[name=name]", "Host Bench")
    page.set_input_files("input[name=bundle]", str(bundle))
    page.fill("input[name=source_path]", "release/gt.npz")
    page.select_option("select[name=mpe]", "no")
    page.fill("input[name=public_gt_splits]", "dev")
    page.screenshot(path=SHOTS / "host-01-form.png", full_page=True)
    page.click("text=Start the import")
    page.wait_for_url(f"{base}/host/imports/**")
    expect(page.locator("[data-import-state]")).to_have_text("Succeeded", timeout=60_000)
    expect(page.locator(".progress-bar")).to_have_attribute("style", "width: 100%")
    expect(page.locator("[data-import-report]")).to_contain_text("split test: 6 samples, HIDDEN")
    expect(page.locator("[data-import-report]")).to_contain_text("public GT (failure pictures may show its GT)")
    page.screenshot(path=SHOTS / "host-02-imported.png", full_page=True)
    detail_path = page.url[len(base):]

    benchmark = Benchmark.objects.get(slug="host-bench")
    submission = Submission.objects.create(owner=User.objects.create_user("ann"), method_name="Hosted-Net",
                                           status=Status.FINISHED, is_public=True)
    for split, value in (("dev", 41.5), ("test", 57.25)):
        BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split=split, primary_value=value,
                                       num_samples=6, metrics={"mpvpe_all": value}, protocol="smplx-generic")
    recompute_scores(submission)

    # The test split is hidden: nobody but staff sees its results until the host reveals it.
    page.click("text=Reveal a split")
    test_split = benchmark.splits.get(name="test")
    page.check(f"input[name=_selected_action][value='{test_split.pk}']")
    page.select_option("select[name=action]", "reveal_splits")
    page.click("button[name=index]")
    expect(page.locator("#content")).to_contain_text("Every result on them becomes public at once")
    page.screenshot(path=SHOTS / "host-03-confirm.png", full_page=True)
    page.click("input[type=submit][value^='Yes']")
    expect(page.locator(".messagelist")).to_contain_text("Revealed 1 split(s).")
    test_split.refresh_from_db()
    assert test_split.is_revealed and not test_split.is_ranking  # revealing does not change the ranking split

    board = "/benchmarks/host-bench/?split=test"
    page.goto(f"{base}{board}")
    expect(page.locator("tr", has_text="Hosted-Net")).to_contain_text("57.2")
    expect(page.locator(".split-tabs a.tab", has_text="dev")).to_contain_text("public GT")
    context.close()

    anonymous = browser.new_context()
    view = anonymous.new_page()
    view.goto(f"{base}{board}")
    expect(view.locator("tr", has_text="Hosted-Net")).to_contain_text("57.2")  # public now
    anonymous.close()

    login = browser.new_context()
    tour = login.new_page()
    tour.goto(f"{base}/accounts/login/")
    tour.fill("input[name=username]", "hostess")
    tour.fill("input[name=password]", PASSWORD)
    tour.click("form.panel button[type=submit]")
    session = next(c for c in login.cookies() if c["name"] == "sessionid")
    login.close()
    pages = {"host-import": "/host/import/", "host-import-detail": detail_path, "host-board": board,
             "host-update": "/host/import/?slug=host-bench"}
    assert screenshot_everything(browser, base, session, pages) == []  # nothing wider than 390 px
