"""The leaderboard version memo: committed tokens only, forgotten on every committed bump, kept fresh by the refresher thread that
gunicorn workers start (leaderboard/submissions/version_refresher.py), so cached requests read no row."""
from __future__ import annotations

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from leaderboard.submissions import board_cache
from leaderboard.submissions.models import LeaderboardVersion
from leaderboard.submissions.version_refresher import start_version_refresher



@pytest.mark.usefixtures("trusted_memo")
@pytest.mark.django_db(transaction=True)
def test_the_refresher_brings_another_process_change_without_a_request_reading_the_row():
    board_cache.read_version()
    stop = threading.Event()
    thread = start_version_refresher(interval=0.02, stop=stop)
    try:
        with CaptureQueriesContext(connection) as queries:
            # A committed change that this process did not make (no forget_version), as from a Celery worker.
            LeaderboardVersion.objects.update_or_create(pk=board_cache.VERSION_PK, defaults={
                "token": "from-elsewhere", "changed_at": "2026-12-02T00:00:00Z"})
            writes = len(queries)
            started = time.monotonic()
            while board_cache.current_version().token != "from-elsewhere":
                assert time.monotonic() - started < 1.0, "the refresher did not bring the new token within 1 s"
                time.sleep(0.01)
        assert len(queries) == writes  # current_version() itself read nothing: the memo never expired
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.usefixtures("trusted_memo")
@pytest.mark.django_db(transaction=True)
def test_another_thread_sees_a_new_token_only_once_its_rows_are_committed():
    """Before the commit, another thread of the process must get the old token (it can only see the old rows, and
    would cache them under whatever token it got); after it, everyone gets the new one, whatever the TTL."""
    before = board_cache.current_version()
    seen_inside: list[board_cache.Version] = []

    def other_request() -> None:
        try:
            seen_inside.append(board_cache.current_version())
        finally:
            connection.close()

    with transaction.atomic():
        board_cache.bump_version()
        mine = board_cache.current_version()  # this transaction sees its own new token
        thread = threading.Thread(target=other_request)
        thread.start()
        thread.join(10)
        assert board_cache.current_version() == mine  # not the old token the other thread remembered
    assert mine != before and seen_inside == [before]
    assert board_cache.current_version() == mine  # on_commit forgot the old token the other thread remembered
