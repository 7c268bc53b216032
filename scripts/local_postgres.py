"""Print a DATABASE_URL for a PostgreSQL answering on loopback (scripts/serve uses it, as it uses a local Redis).

Tries EHPS_LOCAL_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/ehps) and creates its database when
the server answers but the database does not exist. Prints nothing and exits 1 when no usable server answers
within 2 s (not installed, down, or refusing these credentials): serve then keeps the embedded SQLite.
"""
from __future__ import annotations

import os
import sys

import psycopg
from psycopg import sql

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/ehps"


def usable_url(url: str) -> str | None:
    try:
        psycopg.connect(url, connect_timeout=2).close()
        return url
    except psycopg.OperationalError as exc:
        if "does not exist" not in str(exc):
            return None
    info = psycopg.conninfo.conninfo_to_dict(url)
    try:
        with psycopg.connect(**{**info, "dbname": "postgres"}, connect_timeout=2, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(info["dbname"])))
    except psycopg.Error:
        return None
    return url


if __name__ == "__main__":
    found = usable_url(os.environ.get("EHPS_LOCAL_POSTGRES_URL", DEFAULT_URL))
    if found:
        print(found)
    sys.exit(0 if found else 1)
