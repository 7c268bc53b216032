"""Teams and phases in headless Chromium against gunicorn + a real Celery worker (issue 21).

Alice creates a team and copies its join link → Bob opens the link and joins → Bob submits for the team on the
submit page (the quota box shows the team's figures) → the worker scores it, Bob publishes → the board shows the
team's row, and Alice's submit page shows the team's quota used. A benchmark whose phase has ended refuses the
upload on the submit page and in the API, naming the phase's dates. Screenshots at 1366 and 390 px go to
test-artifacts/e2e/pages/team-*.png; no page is wider than 390 px there.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from tests.e2e.conftest import needs_chromium
from tests.e2e.test_researcher_journey import SHOTS, WIDTHS, screenshot_everything
from workers.synthetic import create_benchmark, noisy_predictions, write_npz

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(300), needs_chromium]

PASSWORD = "a-long-Passphrase-42"


def signed_in(browser, base: str, username: str):
    """A 1366 px page of a new browser context, signed in through the log-in form."""
    context = browser.new_context(viewport={"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(f"{base}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.panel button[type=submit]")
    page.wait_for_load_state()
    return page


def both_widths(page, name: str) -> int:
    """Screenshot the page as it is at 1366 and at 390 px; returns its width at 390 px (sideways scroll if > 390)."""
    for label, (width, height) in WIDTHS.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=SHOTS / f"{name}-{label}.png", full_page=True)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    page.set_viewport_size({"width": WIDTHS["desktop"][0], "height": WIDTHS["desktop"][1]})
    return scroll_width


def test_team_link_join_submit_for_the_team_board_row_and_a_closed_phase(live_stack, browser, tmp_path):
    from django.contrib.auth.models import User
    from django.utils import timezone
    from playwright.sync_api import expect
    from rest_framework.authtoken.models import Token

    for name in ("alice", "bob"):
        User.objects.create_user(name, password=PASSWORD)
    open_bench = create_benchmark("team-open", 16, splits=("test",))
    closed_bench = create_benchmark("team-closed", 16, splits=("test",), seed=1)
    phase = closed_bench.phases.get()
    now = timezone.now().replace(second=0, microsecond=0)
    phase.starts_at, phase.ends_at = now - timedelta(days=8), now - timedelta(days=1)
    phase.save()
    predictions = write_npz(tmp_path / "team-open.npz", noisy_predictions(open_bench.gt_arrays, noise=0.03))
    late = write_npz(tmp_path / "team-closed.npz", noisy_predictions(closed_bench.gt_arrays, noise=0.03))
    live_stack.env_overrides.update(EVAL_SHARD_SIZE="16", EVAL_CHUNK_SIZE="16")
    live_stack.start_worker("w1")
    base = live_stack.start_gunicorn(workers=2)
    SHOTS.mkdir(parents=True, exist_ok=True)
    wide: dict[str, int] = {}

    # Alice founds the team; its page shows her the join link.
    alice = signed_in(browser, base, "alice")
    alice.goto(f"{base}/teams/")
    alice.fill("input[name=name]", "Lab Journey")
    alice.click("button:has-text('Create team')")
    expect(alice.locator("h1")).to_contain_text("Lab Journey")
    link = alice.locator("[data-join-link]").inner_text().strip()
    assert link.startswith(f"{base}/teams/join/")
    wide["team-owner"] = both_widths(alice, "team-owner")

    # Bob opens the link (that alone joins no one), then joins with the button.
    bob = signed_in(browser, base, "bob")
    bob.goto(link)
    expect(bob.locator("h1")).to_have_text("Join Lab Journey?")
    wide["team-join"] = both_widths(bob, "team-join")
    bob.click("button:has-text('Join Lab Journey')")
    expect(bob.locator(".messages")).to_contain_text("You joined Lab Journey.")
    expect(bob.locator("body")).to_contain_text("alice")

    # Bob submits for the team; the quota box shows the team's figures before the upload.
    bob.goto(f"{base}/submit/")
    expect(bob.locator("#quota-teams")).to_contain_text("Lab Journey")
    bob.check("input[name=kind][value=predictions]")
    bob.check("input[name=benchmarks][value=team-open]")
    bob.set_input_files("input[name=file]", str(predictions))
    bob.fill("input[name=method_name]", "Team-Net")
    bob.select_option("select[name=team]", label="Lab Journey")
    bob.click("text=Upload and evaluate")
    bob.wait_for_url(f"{base}/submissions/**")
    expect(bob.locator("[data-status-badge]")).to_have_text("Finished", timeout=60_000)
    bob.click("text=Publish to the leaderboard")
    expect(bob.locator(".badge.public")).to_be_visible()
    bob.goto(f"{base}/benchmarks/team-open/")
    expect(bob.locator("tr", has_text="Team-Net")).to_contain_text("team Lab Journey (bob)")

    # Alice sees what the team has left before she uploads for it.
    alice.goto(f"{base}/submit/")
    expect(alice.locator("#quota-teams")).to_contain_text("4 of 5 left today")
    expect(alice.locator("#quota > .quota-list")).to_contain_text("5 of 5 left today")  # Bob's upload is not hers

    # The ended phase: the quota box says so before the upload; the submit page and the API refuse, naming its dates.
    dates = f"until {phase.ends_at:%Y-%m-%d %H:%M} UTC"
    bob.goto(f"{base}/submit/")
    closed_row = bob.locator("#quota li", has_text="TEAM-CLOSED").first
    expect(closed_row).to_contain_text("no submissions now: its last phase has ended")
    expect(closed_row).to_contain_text(dates)
    bob.check("input[name=kind][value=predictions]")
    bob.check("input[name=benchmarks][value=team-closed]")
    bob.set_input_files("input[name=file]", str(late))
    bob.fill("input[name=method_name]", "Too-Late")
    bob.click("text=Upload and evaluate")
    refusal = bob.locator("fieldset.has-error:has(legend:text-is('Benchmark')) .error-text")
    expect(refusal).to_contain_text("takes no submissions now: its last phase has ended")
    expect(refusal).to_contain_text(dates)
    wide["team-phase-closed"] = both_widths(bob, "team-phase-closed")
    token = Token.objects.create(user=User.objects.get(username="bob")).key
    answer = bob.request.post(f"{base}/api/v1/submissions/", headers={"Authorization": f"Token {token}"}, multipart={
        "file": {"name": late.name, "mimeType": "application/octet-stream", "buffer": late.read_bytes()},
        "benchmark": "team-closed", "method_name": "Too-Late"})
    assert answer.status == 403 and dates in answer.json()["detail"], answer.text()

    session = next(c for c in alice.context.cookies() if c["name"] == "sessionid")
    pages = {"team-list": "/teams/", "team-submit": "/submit/", "team-board": "/benchmarks/team-open/"}
    overflowing = screenshot_everything(browser, base, session, pages)
    overflowing += [f"{name} ({px} px)" for name, px in wide.items() if px > WIDTHS["mobile"][0]]
    assert overflowing == []  # nothing wider than 390 px
