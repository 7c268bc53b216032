"""What a worker needs, checked at start-up (logged) and by ``python -m workers.health`` (a container health check).

A worker host needs four things: the broker, the database, the store(s) and the body model. Without this check a
worker missing one came up "healthy" and idled (no broker: nothing arrives) or failed every task (an empty
SMPLX_MODEL_DIR mount, a store it has no keys for) with the cause only in each submission's error message.
"""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

from celery import signals

logger = logging.getLogger(__name__)


def _database() -> None:
    from django.db import connection

    connection.ensure_connection()


def _broker() -> None:
    from workers.celery_app import app

    if app.conf.task_always_eager:
        return
    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=5)


def _stores() -> None:
    """Both stores answer: the bucket (S3) or the root folder (filesystem) is there and ours to read."""
    from django.core.files.storage import FileSystemStorage, storages

    from leaderboard.storage import GROUND_TRUTH, PRIVATE, NoCredentialsStorage

    kinds = (PRIVATE, GROUND_TRUTH)
    for kind in kinds:
        if isinstance(storages[kind], NoCredentialsStorage):
            raise PermissionError(f"no credentials for the {kind} store (a worker needs S3_GT_* read keys too)")
    for kind in kinds:
        storage = storages[kind]
        if isinstance(storage, FileSystemStorage):
            storage.listdir("")  # FileNotFoundError / PermissionError name the folder
        else:
            storage.bucket.meta.client.list_objects_v2(Bucket=storage.bucket_name, MaxKeys=1)


def _body_model() -> None:
    from django.conf import settings

    from evaluator.assets import load_part_files, resolve_model_dir

    folder = Path(settings.SMPLX_MODEL_DIR)
    if folder.is_dir() and not any(folder.iterdir()):  # docker mounts a missing host folder as an empty one
        raise FileNotFoundError(f"SMPLX_MODEL_DIR {folder} is empty: mount the folder holding the licensed "
                                "SMPLX_NEUTRAL.npz (+ part index files) there (compose: set SMPLX_HOST_DIR to it)")
    load_part_files(resolve_model_dir(folder))  # the files every protocol needs, read whole


CHECKS: dict[str, Callable[[], None]] = {
    "database": _database, "broker": _broker, "store": _stores, "body model": _body_model,
}


def problems() -> list[str]:
    """One line per thing this worker cannot use, naming it and why; empty when it can work."""
    found = []
    for name, check in CHECKS.items():
        try:
            check()
        except Exception as exc:  # any failure is the answer here, reported, never raised
            found.append(f"{name}: {type(exc).__name__}: {exc}")
    return found


@signals.worker_ready.connect
def _report_at_start_up(**_kwargs) -> None:
    for line in problems():
        logger.error("Worker cannot work: %s", line)


def main() -> int:
    import django

    django.setup()
    found = problems()
    for line in found:
        print(f"unhealthy: {line}", file=sys.stderr)
    if not found:
        print("ok: database, broker, store and body model reachable")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
