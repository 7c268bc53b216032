"""Seeded random single-image matching cases (shared by the golden-matching test and the scratch
script that ran the official matcher to record the golden answers)."""
from __future__ import annotations

from typing import Iterator

import numpy as np

GOLDEN_SEED = 20260519
GOLDEN_IMAGES = 600


def _person(rng: np.random.Generator, joints: int) -> np.ndarray:
    centre = rng.uniform(0, 400, size=2)
    kind = rng.integers(8)
    if kind == 0:  # every joint on one pixel: a zero-extent box
        return np.repeat(np.round(centre)[None], joints, axis=0)
    spread = rng.uniform(2, 80, size=2)
    pts = centre + rng.normal(size=(joints, 2)) * spread
    return np.round(pts * 2) / 2 if kind < 4 else pts  # half-pixel grid: many exact ties


def match_cases(seed: int = GOLDEN_SEED, images: int = GOLDEN_IMAGES) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(pred (P,24,2), gt (G,J,2), eligible (G,)) per image: P up to 7 (often more than G), J 24 or 30,
    duplicated people (exact cost ties) and zero-extent boxes."""
    rng = np.random.default_rng(seed)
    for _ in range(images):
        num_gt = int(rng.integers(0, 5))
        gt_joints = 24 if rng.random() < 0.5 else 30
        gt = np.stack([_person(rng, gt_joints) for _ in range(num_gt)]) if num_gt else np.zeros((0, gt_joints, 2))
        preds = []
        for _ in range(int(rng.integers(0, 8))):
            r = rng.random()
            if num_gt and r < 0.5:  # a noisy copy of some GT person
                src = gt[rng.integers(num_gt), :24]
                preds.append(src + rng.normal(size=src.shape) * rng.choice([0.0, 1.0, 10.0, 60.0]))
            elif preds and r < 0.65:  # an exact duplicate prediction
                preds.append(preds[int(rng.integers(len(preds)))].copy())
            else:
                preds.append(_person(rng, 24))
        pred = np.stack(preds) if preds else np.zeros((0, 24, 2))
        eligible = rng.random(num_gt) < 0.8
        yield pred.astype(np.float64), gt.astype(np.float64), eligible
