"""scripts/serve uses PostgreSQL when one answers on loopback (issue 24: a new user's default SQLite locked),
creating its database; with none answering it keeps SQLite (the helper prints nothing)."""
from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

from tests.fixtures_live import free_port

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "local_postgres.py"


def run(url: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT)], env={**os.environ, "EHPS_LOCAL_POSTGRES_URL": url},
                          capture_output=True, text=True, timeout=60)


def test_nothing_listening_keeps_sqlite():
    result = run(f"postgres://postgres@127.0.0.1:{free_port()}/ehps")
    assert result.returncode == 1 and result.stdout == ""


def test_a_local_server_is_used_and_its_database_created():
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith("postgres"):
        pytest.skip("needs the test PostgreSQL (DATABASE_URL)")
    info = psycopg.conninfo.conninfo_to_dict(server)
    name = f"ehps_serve_probe_{uuid.uuid4().hex[:8]}"
    url = psycopg.conninfo.make_conninfo(**{**info, "dbname": name})
    try:
        result = run(url)
        assert result.returncode == 0 and result.stdout.strip() == url
        psycopg.connect(url).close()  # it exists now
    finally:
        with psycopg.connect(**{**info, "dbname": "postgres"}, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
