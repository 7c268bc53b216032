"""The web process never imports torch (issue 14: ≈191 MB per gunicorn worker, slow first page).

A fresh interpreter loads the WSGI application, serves the pages and API listings, validates an
upload with the evaluator's checks and imports what the views import to enqueue work; afterwards
``torch`` (and ``smplx``) must be absent from ``sys.modules``.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

from leaderboard.benchmarks.testing import make_benchmark, write_npz
from tests.conftest import REPO_ROOT

PROBE = r"""
import json, sys
from pathlib import Path
import django
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
from django.test import Client
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.uploads import validate_predictions
import workers.tasks, workers.pipeline  # what the submit views import to enqueue work

slug, pred_path = sys.argv[1], Path(sys.argv[2])
client = Client()
statuses = {url: client.get(url).status_code
            for url in ("/", f"/benchmarks/{slug}/", "/api/v1/benchmarks/", "/api/v1/leaderboard/")}
count = validate_predictions(pred_path, Benchmark.objects.get(slug=slug), "predictions.npz")
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "smplx"))
print(json.dumps({"statuses": statuses, "count": count, "heavy": heavy[:20]}))
"""


def _database_url() -> str:
    s = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("needs the PostgreSQL test database (a subprocess cannot see an in-memory SQLite one)")
    return f"postgres://{s['USER']}:{s['PASSWORD'] or ''}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_pages_and_upload_checks_do_not_import_torch(tmp_path):
    benchmark, predictions = make_benchmark("no-torch", num_samples=6, seed=4)
    pred_path = write_npz(tmp_path / "pred.npz", predictions)
    env = {
        "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT), "DJANGO_SETTINGS_MODULE": "leaderboard.settings",
        "DATABASE_URL": _database_url(), "PRIVATE_STORAGE_ROOT": str(settings.PRIVATE_STORAGE_ROOT),
        "SMPLX_MODEL_DIR": str(settings.SMPLX_MODEL_DIR), "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    proc = subprocess.run([sys.executable, "-c", PROBE, benchmark.slug, str(pred_path)], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report["count"] == len(predictions["sample_ids"])
    assert all(status == 200 for status in report["statuses"].values()), report["statuses"]
    assert report["heavy"] == [], f"the web process imported {report['heavy']}"
