"""Uploads through the API while a "worker" finalises, on the default (SQLite) database settings.

Run as a script by tests/faults/test_sqlite_default.py, in a fresh process whose environment has no DATABASE_URL,
so ``leaderboard.settings`` picks its embedded default under EHPS_VAR_DIR. Prints one JSON line:
{"codes": [...], "writer_errors": [...]}. Issue 24 ("Also found by a new user"): 1 of 6 back-to-back uploads
answered 500 "database is locked" while a worker finalised.
"""
from __future__ import annotations

import io
import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

import django  # noqa: E402

django.setup()

from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from leaderboard.benchmarks.testing import make_benchmark  # noqa: E402
from leaderboard.submissions.board_cache import bump_version  # noqa: E402
from leaderboard.submissions.models import Status, Submission  # noqa: E402

UPLOADS = int(os.environ.get("CONTENTION_UPLOADS", "8"))


def finalising_worker(stop: threading.Event, owner: User, errors: list[str]) -> None:
    """What finalize does to the database, back to back: lock a row, read, write results, bump the version."""
    submission = Submission.objects.create(owner=owner, method_name="finalising", status=Status.RUNNING)
    try:
        while not stop.is_set():
            try:
                with transaction.atomic():
                    Submission.objects.select_for_update().filter(pk=submission.pk).first()
                    Submission.objects.filter(pk=submission.pk).update(heartbeat_at=timezone.now())
                    time.sleep(0.02)  # aggregating shard results inside the transaction
                    bump_version()
            except Exception as exc:  # noqa: BLE001  (reported to the test)
                errors.append(f"{type(exc).__name__}: {exc}")
            time.sleep(0.03)  # the worker's other work (scoring the next shard) between its transactions
    finally:
        connection.close()


def main() -> None:
    call_command("migrate", verbosity=0)
    benchmark, predictions = make_benchmark("contention", num_samples=4, seed=1)
    buffer = io.BytesIO()
    np.savez(buffer, **predictions)
    owner = User.objects.create_user("worker-owner")
    uploader = User.objects.create_user("uploader")
    stop, errors = threading.Event(), []
    writers = [threading.Thread(target=finalising_worker, args=(stop, owner, errors)) for _ in range(2)]
    for writer in writers:
        writer.start()
    client = APIClient(raise_request_exception=False)
    client.force_authenticate(uploader)
    codes, details = [], []
    with mock.patch("leaderboard.submissions.actions._start_evaluation"), \
            mock.patch("leaderboard.submissions.actions.check_quotas"):
        for i in range(UPLOADS):
            response = client.post("/api/v1/submissions/", {
                "kind": "predictions", "benchmark": benchmark.slug, "method_name": f"net-{i}",
                "file": SimpleUploadedFile("pred.npz", buffer.getvalue())})
            codes.append(response.status_code)
            if response.status_code >= 500:
                details.append(response.content[:200].decode(errors="replace"))
    stop.set()
    for writer in writers:
        writer.join()
    print(json.dumps({"codes": codes, "writer_errors": errors[:5], "details": details[:3],
                      "journal_mode": connection.cursor().execute("PRAGMA journal_mode").fetchone()[0]}))


if __name__ == "__main__":
    main()
