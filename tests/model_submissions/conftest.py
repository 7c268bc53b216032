"""Fixtures for model submissions end to end: held-out images imported as a benchmark, sandboxes, API clients.

The OCI image and TorchScript archive builders are the runner tests' own (tests/runners), imported, not copied.
``alice``, ``bob`` and ``eager`` come from tests/conftest.py; ``live_stack`` from tests/fixtures_live.py.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evaluator.image_benchmark import ImageBenchmarkPaths, make_image_benchmark
from tests.fixtures_live import *  # noqa: F401,F403  (live_stack)
from tests.runners.oci_images import ImageFactory
from tests.runners.runner_test_support import isolated_podman_store, require_binaries

SLUG = "model-images"


@pytest.fixture(scope="session")
def rendered_images(tmp_path_factory: pytest.TempPathFactory, smplx_model_dir: Path) -> ImageBenchmarkPaths:
    """Six rendered people: input/ (manifest + images, what a model sees) and gt.npz beside it (what it never sees)."""
    return make_image_benchmark(tmp_path_factory.mktemp("model_images"), smplx_model_dir, num_samples=6, seed=21,
                                image_size=(128, 96), slug=SLUG)


@pytest.fixture
def image_benchmark(db, rendered_images: ImageBenchmarkPaths):
    """The rendered set imported the way operators do it (import_ground_truth with its held-out images)."""
    from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth

    return import_ground_truth(rendered_images.gt_path, BenchmarkSpec(slug=SLUG, name="Model images"),
                               images_dir=rendered_images.input_dir)


@pytest.fixture(scope="session")
def podman_store() -> Iterator[Path]:
    with isolated_podman_store() as root:
        yield root


@pytest.fixture(scope="session")
def image_factory(podman_store: Path, tmp_path_factory: pytest.TempPathFactory) -> ImageFactory:
    return ImageFactory(tmp_path_factory.mktemp("oci_images"))


@pytest.fixture
def bwrap_ready() -> None:
    from workers.runners import runner_available

    require_binaries("bwrap", "prlimit")
    ok, reason = runner_available("archive")
    assert ok, reason


@pytest.fixture
def submit_eagerly(eager, django_capture_on_commit_callbacks):
    """Submit through the API and run the whole pipeline in this process (on commit, as in production)."""
    from tests.model_submissions.pipeline_checks import submit_model

    def submit(user, artifact: Path, kind: str):
        with django_capture_on_commit_callbacks(execute=True):
            submission = submit_model(user, artifact, kind, SLUG)
        submission.refresh_from_db()
        return submission

    return submit
