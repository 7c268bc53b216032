"""Fixtures for the runner tests: a small image benchmark, podman storage in a temporary folder, test images."""
from __future__ import annotations

from pathlib import Path

import pytest
from oci_images import ImageFactory  # this folder is on sys.path (pytest's rootdir-less test layout)
from runner_test_support import isolated_podman_store

from evaluator.image_benchmark import ImageBenchmarkPaths, make_image_benchmark


@pytest.fixture(scope="session")
def image_benchmark(tmp_path_factory: pytest.TempPathFactory, smplx_model_dir: Path) -> ImageBenchmarkPaths:
    return make_image_benchmark(tmp_path_factory.mktemp("image_benchmark"), smplx_model_dir, num_samples=6, seed=7)


@pytest.fixture(scope="session")
def podman_store():
    with isolated_podman_store() as root:
        yield root


@pytest.fixture(scope="session")
def image_factory(tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    return ImageFactory(tmp_path_factory.mktemp("oci_images"))
