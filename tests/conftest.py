"""Shared fixtures: a synthetic SMPL-X model, private storage in temporary folders, users, Celery switches.

Django and Celery are imported inside the fixtures: evaluator-only runs load this file without them.
"""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from unittest import mock

import pytest

if TYPE_CHECKING:
    from celery import Celery
    from django.contrib.auth.models import User

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def smplx_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A deterministic synthetic SMPL-X model with the real array shapes, generated once per session."""
    out = tmp_path_factory.mktemp("smplx_synthetic")
    subprocess.run(
        [sys.executable, "-m", "evaluator", "make-synthetic-model", "--out", str(out), "--seed", "0"],
        check=True,
        cwd=REPO_ROOT,
        capture_output=True,
    )
    return out


@pytest.fixture(scope="session", autouse=True)
def _isolated_client_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The ``ehps`` client (and every subprocess a test starts) reads a session-private config file, never the
    user's: a token saved by ``ehps login`` on this machine must not change any test's outcome (issue 24)."""
    path = tmp_path_factory.mktemp("ehps-config") / "config.json"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EHPS_CONFIG", str(path))
        patch.setenv("XDG_CONFIG_HOME", str(path.parent))
        for name in ("EHPS_TOKEN", "EHPS_URL", "EHPS_SERVER"):
            patch.delenv(name, raising=False)
        yield path


@pytest.fixture(scope="session", autouse=True)
def _private_storage(tmp_path_factory: pytest.TempPathFactory, smplx_model_dir: Path):
    """Point Django's private storage and model folder at temporary folders for the whole session."""
    try:
        from django.test import override_settings
    except ImportError:  # evaluator-only runs without Django
        yield
        return
    override = override_settings(
        PRIVATE_STORAGE_ROOT=tmp_path_factory.mktemp("private"), SMPLX_MODEL_DIR=smplx_model_dir,
        FILE_UPLOAD_TEMP_DIR=str(tmp_path_factory.mktemp("upload-requests")),
        # Not the public development key, which the live stack's gunicorn refuses (sessions must match).
        SECRET_KEY="tests-only-secret-key-" + "x" * 40,
    )
    override.enable()
    yield
    override.disable()


@pytest.fixture
def alice(db) -> User:
    from django.contrib.auth.models import User

    return User.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def bob(db) -> User:
    from django.contrib.auth.models import User

    return User.objects.create_user("bob", password="pw-bob-123")


@pytest.fixture
def started() -> Iterator[mock.MagicMock]:
    """Records start_evaluation calls instead of enqueueing (the workers' own tests cover the pipeline)."""
    with mock.patch("leaderboard.submissions.actions._start_evaluation") as start:
        yield start


@pytest.fixture
def eager() -> Iterator[Celery]:
    """Run the evaluation pipeline's Celery tasks in-process, chords included."""
    from workers.celery_app import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty local cache: cached leaderboards are keyed by a version row that a test's
    rolled-back transaction resets, so entries left by an earlier test could otherwise match. A shared (Redis)
    cache is never cleared: that would flush its whole database."""
    try:
        from django.core.cache import caches
        from django.core.cache.backends.locmem import LocMemCache

        from leaderboard.submissions import board_cache
        from leaderboard.web import response_cache

        board_cache.forget_version()  # this process's memo of the version row
        response_cache.STORE.clear()  # whole anonymous responses, keyed by that token
        if isinstance(caches["default"], LocMemCache):
            caches["default"].clear()
    except Exception:  # Django absent or not configured (evaluator-only runs)
        pass
    yield
