"""Training augmentations (spec §4): scale, rotation, colour, flip with left/right pose swap."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..smplx_layout import flip_permutation


@dataclass(frozen=True)
class AugmentConfig:
    scale_sigma: float = 0.25  # scale ~ clip(N(1, σ), 1 - σ, 1 + σ)
    rot_sigma_deg: float = 30.0  # rotation ~ clip(N(0, σ), -2σ, 2σ) with probability rot_prob
    rot_prob: float = 0.6
    colour_range: float = 0.2  # per-channel gain in [1 - r, 1 + r]
    flip_prob: float = 0.5


@dataclass(frozen=True)
class Augmentation:
    scale: float = 1.0
    rot_deg: float = 0.0
    colour: tuple[float, float, float] = (1.0, 1.0, 1.0)
    flip: bool = False


def sample_augmentation(cfg: AugmentConfig, rng: np.random.Generator) -> Augmentation:
    scale = float(np.clip(rng.normal(1.0, cfg.scale_sigma), 1 - cfg.scale_sigma, 1 + cfg.scale_sigma))
    rot = 0.0
    if rng.random() < cfg.rot_prob:
        rot = float(np.clip(rng.normal(0.0, cfg.rot_sigma_deg), -2 * cfg.rot_sigma_deg, 2 * cfg.rot_sigma_deg))
    colour = tuple(float(c) for c in rng.uniform(1 - cfg.colour_range, 1 + cfg.colour_range, 3))
    return Augmentation(scale, rot, colour, bool(rng.random() < cfg.flip_prob))


_BODY_PERM = [j - 1 for j in flip_permutation(22)[1:]]  # body_pose rows are joints 1..21


def flip_smplx_params(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Mirror SMPL-X params about the camera's x axis: swap L/R joints, negate axis-angle y and z."""
    sign = np.array([1.0, -1.0, -1.0], dtype=np.float32)
    out = dict(params)
    out["global_orient"] = params["global_orient"] * sign
    out["jaw_pose"] = params["jaw_pose"] * sign
    out["body_pose"] = params["body_pose"][_BODY_PERM] * sign
    out["left_hand_pose"] = params["right_hand_pose"] * sign
    out["right_hand_pose"] = params["left_hand_pose"] * sign
    return out


def flip_keypoints(kp: np.ndarray) -> np.ndarray:
    """Swap left/right rows of the 55 SMPL-X joints (coordinates are mirrored by the affine)."""
    return kp[flip_permutation(kp.shape[0])]
