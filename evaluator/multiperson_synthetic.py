"""Synthetic multi-person ground truth and predictions (tests, bench): 1-4 people per image.

People are random SMPL-X bodies (evaluator.demo.random_gt_params) spread across a pinhole camera's
view; ``joints2d`` are their first 24 joints projected (focal 1000 px, principal point at the centre).
Occlusion, kid flags and yaw are drawn at random here (no renderer).
"""
from __future__ import annotations

import numpy as np

from .demo import noisy_predictions, random_gt_params
from .protocols.agora_multiperson import _Geometry

FOCAL = 1000.0


def project(points: np.ndarray, width: float, height: float) -> np.ndarray:
    """(..., 3) camera-frame metres -> (..., 2) pixels."""
    return FOCAL * points[..., :2] / points[..., 2:3] + np.array([width / 2, height / 2])


def people_arrays(body_model, params: dict[str, np.ndarray], width: float, height: float) -> dict[str, np.ndarray]:
    """vertices (float32), joints3d (127 layout) and joints2d (24 projected) of SMPL-X ``params``."""
    verts = body_model.vertices({k: np.asarray(v, np.float32) for k, v in params.items()})
    verts = verts.detach().cpu().double().numpy()
    joints = np.einsum("jv,nvc->njc", _Geometry(body_model).regressor(), verts)
    return {"vertices": verts.astype(np.float32), "joints3d": joints.astype(np.float32),
            "joints2d": project(joints[:, :24], width, height)}


def make_multiperson_set(body_model, images: int, seed: int = 0, width: int = 1280, height: int = 720,
                         max_people: int = 4, noise_level: float = 1.0) -> tuple[dict, dict]:
    """(GT arrays, prediction arrays) for ``images`` images; predictions are noisy SMPL-X fits of every
    person, rows shuffled within the file."""
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_people + 1, images)
    n = int(counts.sum())
    image_ids = np.repeat([f"img_{seed}_{i:05d}" for i in range(images)], counts)
    params = random_gt_params(n, rng)
    params["transl"][:, 0] = rng.uniform(-1.5, 1.5, n) * params["transl"][:, 2] / 3
    gt = {"image_ids": image_ids, **people_arrays(body_model, params, width, height),
          "occlusion": rng.uniform(0, 100, n).astype(np.float32), "valid": rng.random(n) < 0.95,
          "kid": rng.random(n) < 0.15, "yaw": rng.uniform(0, 360, n).astype(np.float32),
          "image_width": np.full(n, width, np.float32), "image_height": np.full(n, height, np.float32)}
    gt["valid"] &= gt["occlusion"] <= 90  # AGORA's isValid already implies 0-90 % occlusion
    pred = {"image_ids": image_ids, **people_arrays(body_model, noisy_predictions(params, rng, noise_level), width, height)}
    order = rng.permutation(n)
    return gt, {k: v[order] for k, v in pred.items()}
