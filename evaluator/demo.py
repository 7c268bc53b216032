"""Synthetic demo benchmark: plausible random SMPL-X ground truth and a noisy "method"."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

DEMO_SPLITS = ("dev", "test")


def random_gt_params(num_samples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """People in front of a camera (camera frame: y down, z forward), modest pose variation."""
    n = num_samples
    orient = np.c_[np.pi + rng.normal(0, 0.1, n), rng.normal(0, 0.4, n), rng.normal(0, 0.1, n)]
    return {
        "global_orient": orient,
        "body_pose": rng.normal(0, 0.15, (n, 21, 3)),
        "left_hand_pose": rng.normal(0, 0.2, (n, 15, 3)),
        "right_hand_pose": rng.normal(0, 0.2, (n, 15, 3)),
        "jaw_pose": np.c_[np.abs(rng.normal(0, 0.1, n)), np.zeros((n, 2))],
        "betas": np.clip(rng.normal(0, 1, (n, 10)), -3, 3),
        "expression": np.clip(rng.normal(0, 0.7, (n, 10)), -2, 2),
        "transl": np.c_[rng.normal(0, 0.4, n), rng.normal(0, 0.2, n), rng.uniform(2, 8, n)],
    }


def noisy_predictions(gt: dict[str, np.ndarray], rng: np.random.Generator, level: float = 1.0) -> dict[str, np.ndarray]:
    """GT plus per-parameter Gaussian noise scaled by ``level`` (1.0 ~ a decent method)."""
    sigma = {"global_orient": 0.05, "body_pose": 0.08, "left_hand_pose": 0.15, "right_hand_pose": 0.15,
             "jaw_pose": 0.03, "betas": 0.4, "expression": 0.4, "transl": 0.05}
    return {k: v + rng.normal(0, level * sigma[k], v.shape) for k, v in gt.items()}


def make_demo_benchmark(out_dir: str | os.PathLike, num_samples: int = 200, seed: int = 0,
                        noise_level: float = 1.0) -> tuple[Path, Path]:
    """Write ``gt.npz`` (with 'dev'/'test' splits) and ``pred.npz`` into ``out_dir``.

    Returns (gt_path, pred_path). Deterministic in ``seed``; float32 arrays.
    """
    if num_samples < 1:
        raise ValueError("num_samples must be >= 1")
    rng = np.random.default_rng(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    ids = np.array([f"demo_{seed}_{i:06d}" for i in range(num_samples)])
    splits = np.where(rng.uniform(size=num_samples) < 0.3, DEMO_SPLITS[0], DEMO_SPLITS[1])
    gt = random_gt_params(num_samples, rng)
    pred = noisy_predictions(gt, rng, noise_level)
    f32 = lambda d: {k: v.astype(np.float32) for k, v in d.items()}  # noqa: E731
    gt_path, pred_path = out / "gt.npz", out / "pred.npz"
    np.savez(gt_path, sample_ids=ids, splits=splits, **f32(gt))
    order = rng.permutation(num_samples)  # predictions need not follow GT order
    np.savez(pred_path, sample_ids=ids[order], **{k: v[order] for k, v in f32(pred).items()})
    return gt_path, pred_path
