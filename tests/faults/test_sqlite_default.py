"""Issue 24, "Also found by a new user": on the README's default database (SQLite) 1 of 6 back-to-back API uploads
answered 500 "database is locked" while a worker finalised. WAL, BEGIN IMMEDIATE and a busy timeout make
writers queue instead (before the fix this run gave 6 of 8 uploads a 500 and the finaliser 3 errors)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).with_name("sqlite_contention.py")
REPO_ROOT = SCRIPT.parents[2]


def test_uploads_beside_a_finalising_worker_on_default_sqlite(tmp_path: Path):
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CACHE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
                        "PRIVATE_STORAGE_ROOT", "FILE_UPLOAD_TEMP_DIR"}}
    env.update(EHPS_VAR_DIR=str(tmp_path), CONTENTION_UPLOADS="8")
    run = subprocess.run([sys.executable, str(SCRIPT)], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    assert outcome["journal_mode"] == "wal"
    assert outcome["codes"] == [201] * 8, outcome
    assert outcome["writer_errors"] == [], outcome
