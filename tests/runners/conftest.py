"""Fixtures for the runner tests: a small image benchmark, podman storage in a temporary folder, test images."""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from oci_images import ImageFactory  # this folder is on sys.path (pytest's rootdir-less test layout)
from runner_test_support import require_binaries

from evaluator.image_benchmark import ImageBenchmarkPaths, make_image_benchmark


@pytest.fixture(scope="session")
def image_benchmark(tmp_path_factory: pytest.TempPathFactory, smplx_model_dir: Path) -> ImageBenchmarkPaths:
    return make_image_benchmark(tmp_path_factory.mktemp("image_benchmark"), smplx_model_dir, num_samples=6, seed=7)


@pytest.fixture(scope="session")
def podman_store():
    """Keep the tests' images out of the machine's podman store (short path: conmon's socket path limit)."""
    require_binaries("podman", "runc")
    root = Path(tempfile.mkdtemp(prefix="ehps-podman-"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MODEL_RUNNER_OCI_CLI", "podman")
        mp.setenv("MODEL_RUNNER_PODMAN_ROOT", str(root / "root"))
        mp.setenv("MODEL_RUNNER_PODMAN_RUNROOT", str(root / "run"))
        yield root
    subprocess.run(["podman", "--root", str(root / "root"), "--runroot", str(root / "run"), "--runtime", "runc",
                    "--cgroup-manager", "cgroupfs", "--events-backend", "file", "system", "reset", "--force"],
                   capture_output=True)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def image_factory(tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    return ImageFactory(tmp_path_factory.mktemp("oci_images"))
