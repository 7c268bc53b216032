"""Shared fixtures: a synthetic SMPL-X model and private storage in temporary folders."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

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
def _private_storage(tmp_path_factory: pytest.TempPathFactory, smplx_model_dir: Path):
    """Point Django's private storage and model folder at temporary folders for the whole session."""
    try:
        from django.test import override_settings
    except ImportError:  # evaluator-only runs without Django
        yield
        return
    override = override_settings(
        PRIVATE_STORAGE_ROOT=tmp_path_factory.mktemp("private"), SMPLX_MODEL_DIR=smplx_model_dir
    )
    override.enable()
    yield
    override.disable()
