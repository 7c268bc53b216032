"""A worker that cannot use its body model or its store says so (issue 23: an empty SMPLX_MODEL_DIR mount or a store
it could not reach left a worker "healthy" that failed or idled without a word)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import override_settings

from leaderboard.storage_config import private_stores
from tests.conftest import REPO_ROOT
from tests.fixtures_live import free_port
from workers.health import problems


def lines(name: str) -> list[str]:
    return [line for line in problems() if line.startswith(f"{name}: ")]


def s3_stores(**env: str) -> dict:
    base = {k: v for k, v in settings.STORAGES.items() if k in ("default", "staticfiles")}
    return {**base, **private_stores({"EHPS_STORAGE": "s3", **env})}


@pytest.mark.django_db
def test_a_healthy_worker_reports_nothing(eager):
    assert problems() == []


@pytest.mark.django_db
def test_an_empty_body_model_folder_is_named(eager, tmp_path):
    with override_settings(SMPLX_MODEL_DIR=tmp_path):
        [line] = lines("body model")
    assert str(tmp_path) in line and "SMPLX_NEUTRAL.npz" in line and "SMPLX_HOST_DIR" in line  # the compose knob


@pytest.mark.django_db
def test_a_store_it_cannot_reach_or_has_no_keys_for_is_named(eager):
    unreachable = f"http://127.0.0.1:{free_port()}"
    keys = {"S3_PRIVATE_ACCESS_KEY_ID": "k", "S3_PRIVATE_SECRET_ACCESS_KEY": "s"}
    with override_settings(STORAGES=s3_stores(S3_ENDPOINT_URL=unreachable, S3_GT_ACCESS_KEY_ID="k", **keys)):
        [line] = lines("store")
    assert "EndpointConnectionError" in line and unreachable in line
    with override_settings(STORAGES=s3_stores(S3_ENDPOINT_URL=unreachable, **keys)):  # no GT keys given
        [line] = lines("store")
    assert "no credentials for the ground_truth store" in line


def test_the_health_command_fails_and_says_why(tmp_path):
    env = {**os.environ, "SMPLX_MODEL_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "CELERY_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    run = subprocess.run([sys.executable, "-m", "workers.health"], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 1
    assert "unhealthy: body model: ModelFilesError" in run.stderr and "unhealthy: broker:" in run.stderr
