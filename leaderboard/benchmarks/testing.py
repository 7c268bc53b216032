"""Helpers for tests: a small synthetic benchmark imported into (test) private storage, and prediction files.

Used by tests/web, tests/api and tests/models; kept in the package so every test area shares one version.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth


def make_benchmark(slug: str = "bench-a", num_samples: int = 12, seed: int = 0, with_splits: bool = False,
                   **spec: object) -> tuple[Benchmark, dict[str, np.ndarray]]:
    """Import a synthetic benchmark; returns it and matching (noisy) prediction arrays to write or corrupt."""
    from evaluator.demo import make_demo_benchmark

    with tempfile.TemporaryDirectory() as tmp:
        gt_path, pred_path = make_demo_benchmark(tmp, num_samples=num_samples, seed=seed)
        if not with_splits:
            with np.load(gt_path, allow_pickle=False) as gt:
                arrays = {k: gt[k] for k in gt.files if k != "splits"}
            np.savez(gt_path, **arrays)
        benchmark = import_ground_truth(gt_path, BenchmarkSpec(slug=slug, name=slug.replace("-", " ").title(), **spec))
        with np.load(pred_path, allow_pickle=False) as pred:
            predictions = {k: pred[k] for k in pred.files}
    return benchmark, predictions


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


def make_multiperson_benchmark(slug: str = "multi", images: int = 12, seed: int = 0, splits: tuple[str, ...] = ("test",),
                               **spec: object) -> tuple[Benchmark, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Import a synthetic multi-person benchmark (evaluator.multiperson_synthetic: 1-4 people per image, protocol
    agora-multiperson, outside MPE; image i in ``splits[i % len(splits)]``); returns it, its GT arrays and noisy
    prediction arrays (rows shuffled)."""
    from django.conf import settings

    from evaluator.body_model import load_body_model
    from evaluator.multiperson_synthetic import make_multiperson_set

    gt, pred = make_multiperson_set(load_body_model(settings.SMPLX_MODEL_DIR), images, seed=seed)
    image_index = np.unique(gt["image_ids"], return_inverse=True)[1]  # ids are numbered in order
    gt["splits"] = np.asarray(splits)[image_index % len(splits)]
    spec = {"protocol": "agora-multiperson", "primary_metric": "fb_nmve", "counts_toward_mpe": False,
            "counts_toward_hand_mpe": False, **spec}
    with tempfile.TemporaryDirectory() as tmp:
        path = write_npz(Path(tmp) / "gt.npz", gt)
        benchmark = import_ground_truth(path, BenchmarkSpec(slug=slug, name=slug.replace("-", " ").title(), **spec))
    return benchmark, gt, pred


def gt_as_prediction(gt: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """GT people ``rows`` as a multi-person prediction (24 matching joints, vertices and 3D joints)."""
    out = {k: gt[k][rows] for k in ("image_ids", "joints2d", "vertices", "joints3d")}
    out["joints2d"] = out["joints2d"][:, :24]
    return out
