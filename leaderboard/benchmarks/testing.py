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
