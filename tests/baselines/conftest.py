"""Fixtures for baseline tests: a small held-out image benchmark, a tiny reference checkpoint (``eager`` is in tests/conftest.py)."""
from __future__ import annotations

from pathlib import Path

import pytest

from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth


@pytest.fixture(scope="session")
def rendered_images(tmp_path_factory, smplx_model_dir: Path):
    """Four rendered people (input/ = manifest + images, gt.npz beside it), rendered once per session."""
    from evaluator.image_benchmark import make_image_benchmark

    return make_image_benchmark(tmp_path_factory.mktemp("baseline_images"), smplx_model_dir, num_samples=4, seed=5,
                                image_size=(128, 96), slug="bl-images")


@pytest.fixture
def image_benchmark(db, rendered_images):
    """The rendered set imported with its held-out images; the only benchmark, so it alone makes up MPE."""
    spec = BenchmarkSpec(slug="bl-images", name="Baseline images")
    return import_ground_truth(rendered_images.gt_path, spec, images_dir=rendered_images.input_dir)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """An untrained tiny SMPLer-X (seeded, so its predictions are reproducible) saved as our checkpoint."""
    import torch

    from reference_models.checkpoint import save_checkpoint
    from reference_models.models import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pth"
    save_checkpoint(path, build_model("smpler_x", "tiny"))
    return path
