"""Synthetic ground truth for the demo benchmarks, one generator per GT layout (NumPy only, deterministic).

Each generator returns the arrays of the GT file (in the layout its protocol reads) and the SMPL-X parameters of
the same people, from which example predictions are made by adding noise (predictions are always SMPL-X):

- ``smplx_people``: SMPL-X params (smplx-generic: demo AGORA / EHF).
- ``smpl_people``: gendered SMPL params for the "3dpw" protocol: the SMPL-X body pose with SMPL's two hand joints
  at rest, the same shape, orientation and translation (the synthetic SMPL is derived from the synthetic SMPL-X,
  so a perfect SMPL-X prediction lands near, not exactly on, the SMPL GT — as with the real models).
- ``camera_people``: SMPL-X params plus per-sample intrinsics and image size for the "ubody" protocol; the images
  are cropped so that some people stand partly outside them (those points leave every error).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from evaluator.demo import DEMO_SPLITS, random_gt_params
from evaluator.smpl_params import SMPL_GENDERS


@dataclass(frozen=True)
class DemoData:
    gt: dict[str, np.ndarray]  # the GT file's arrays, sample_ids and splits included
    people: dict[str, np.ndarray]  # SMPL-X params of the same people (GT order), float64


def _ids_and_splits(num_samples: int, seed: int, rng: np.random.Generator, keep_splits: bool):
    ids = np.array([f"demo_{seed}_{i:06d}" for i in range(num_samples)])
    if not keep_splits:
        return ids, np.full(num_samples, "test")
    return ids, np.where(rng.uniform(size=num_samples) < 0.3, DEMO_SPLITS[0], DEMO_SPLITS[1])


def _f32(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def smplx_people(num_samples: int, seed: int, keep_splits: bool) -> DemoData:
    rng = np.random.default_rng(seed)
    ids, splits = _ids_and_splits(num_samples, seed, rng, keep_splits)
    people = random_gt_params(num_samples, rng)
    return DemoData({"sample_ids": ids, "splits": splits, **_f32(people)}, people)


def smpl_people(num_samples: int, seed: int, keep_splits: bool) -> DemoData:
    rng = np.random.default_rng(seed)
    ids, splits = _ids_and_splits(num_samples, seed, rng, keep_splits)
    people = random_gt_params(num_samples, rng)
    for key in ("left_hand_pose", "right_hand_pose", "jaw_pose", "expression"):  # SMPL has none of these
        people[key] = np.zeros_like(people[key])
    body_pose = np.concatenate([people["body_pose"], np.zeros((num_samples, 2, 3))], axis=1)  # + SMPL hand joints
    genders = np.array(SMPL_GENDERS)[np.arange(num_samples) % len(SMPL_GENDERS)]
    gt = {"global_orient": people["global_orient"], "body_pose": body_pose, "betas": people["betas"],
          "transl": people["transl"]}
    return DemoData({"sample_ids": ids, "splits": splits, **_f32(gt), "gender": genders}, people)


def camera_people(num_samples: int, seed: int, keep_splits: bool) -> DemoData:
    rng = np.random.default_rng(seed)
    ids, splits = _ids_and_splits(num_samples, seed, rng, keep_splits)
    people = random_gt_params(num_samples, rng)
    focal = np.repeat(rng.uniform(900.0, 1500.0, (num_samples, 1)), 2, axis=1)
    # Full-HD frames, a third of them cropped to a narrow or short window around the principal point.
    size = np.tile([1920.0, 1080.0], (num_samples, 1))
    cropped = rng.uniform(size=num_samples) < 1 / 3
    size[cropped] = np.c_[rng.uniform(250.0, 700.0, cropped.sum()), rng.uniform(250.0, 700.0, cropped.sum())]
    princpt = size / 2 + rng.normal(0.0, 20.0, (num_samples, 2))
    meta = {"focal": focal, "princpt": princpt, "image_size": size}
    return DemoData({"sample_ids": ids, "splits": splits, **_f32(people), **meta}, people)


GENERATORS = {"smplx": smplx_people, "smpl": smpl_people, "smplx-camera": camera_people}
