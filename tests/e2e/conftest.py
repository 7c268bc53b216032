"""Browser-test fixtures: the live stack, and one headless Debian Chromium driven by Playwright per test."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_live import *  # noqa: F401,F403  (live_stack)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]
# For each module's pytestmark: the browser tests skip with a reason where the Debian package is missing.
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).exists(),
                                    reason="Chromium is not installed (apt-get install chromium)")


@pytest.fixture
def browser(monkeypatch) -> Iterator[object]:
    """A launched headless Chromium (playwright.sync_api.Browser), closed after the test."""
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API keeps an event loop on this thread; Django's ORM (test set-up, assertions) is still
    # used synchronously here, which is Django's documented case for this switch.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()
