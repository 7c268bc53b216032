"""Trusted admin import of mmhuman3d HumanData test files (SMPLer-X preprocessing) into our GT format.

HumanData ``.npz`` files store ``smplx``/``meta``/``misc`` as pickled dicts, so reading them needs
``allow_pickle=True``. That is acceptable ONLY here: an operator runs this on files they downloaded from
the dataset authors; uploads from users never reach this code (they go through evaluator.formats with
``allow_pickle=False``).

Preprocessing follows SMPLer-X / SMPLest-X (docs: reference_evaluation.md §3-4):
- ``betas_neutral`` (betas refit to the neutral model), when present, replaces ``betas``; only 10 are kept;
- a sample with any |beta| > 3 gets all-zero betas (``process_human_model_output``);
- missing hand poses, jaw or expression become zeros; eye poses are always zero;
- datasets annotated with ``flat_hand_mean=True`` get the MANO hand mean subtracted, because our body model
  uses ``flat_hand_mean=False`` (it adds the mean back);
- sample id = ``<image_path>#<row>`` (row index in the HumanData file), unique even with several people per image.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BETAS_LIMIT = 3.0
NUM_BETAS = NUM_EXPRESSION = 10
POSE_KEYS = {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3}


class HumanDataError(ValueError):
    pass


def _dict_item(data, key: str) -> dict:
    if key not in data.files:
        return {}
    value = data[key]
    return value.item() if value.dtype == object and value.shape == () else {}


def hand_means(model_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) MANO hand means (45,) of the neutral SMPL-X model in ``model_dir``."""
    from evaluator.assets import SMPLX_SUBDIR, resolve_model_dir

    with np.load(resolve_model_dir(model_dir) / SMPLX_SUBDIR / "SMPLX_NEUTRAL.npz", allow_pickle=False) as model:
        return np.asarray(model["hands_meanl"], np.float64).reshape(45), np.asarray(model["hands_meanr"], np.float64).reshape(45)


def convert_humandata(
    source: str | os.PathLike, out_path: str | os.PathLike, model_dir: str | os.PathLike | None = None,
    split: str = "test", sample_interval: int = 1,
) -> int:
    """Write our GT ``.npz`` (sample_ids, splits, SMPL-X params) from a HumanData file; returns the sample count.

    ``sample_interval`` keeps every k-th row (SMPLer-X evaluates UBody every 100th, ARCTIC every 10th).
    """
    source = Path(source)
    with np.load(source, allow_pickle=True) as data:  # trusted operator file, see module docstring
        if "image_path" not in data.files:
            raise HumanDataError(f"{source.name}: no 'image_path' key; is this a HumanData file?")
        smplx = _dict_item(data, "smplx")
        if not smplx:
            raise HumanDataError(f"{source.name}: no 'smplx' parameter dict (keys: {sorted(data.files)}).")
        misc = _dict_item(data, "misc")
        image_paths = np.asarray(data["image_path"]).astype(str)
    n = len(image_paths)
    rows = np.arange(0, n, max(1, sample_interval))

    def param(key: str, size: int) -> np.ndarray:
        if key not in smplx:
            return np.zeros((len(rows), size))
        value = np.asarray(smplx[key], dtype=np.float64).reshape(n, -1)
        if value.shape[1] < size:
            raise HumanDataError(f"{source.name}: smplx['{key}'] has {value.shape[1]} values per sample, expected {size}.")
        return value[rows, :size]

    out = {key: param(key, size) for key, size in POSE_KEYS.items()}
    betas = param("betas_neutral" if "betas_neutral" in smplx else "betas", NUM_BETAS)
    betas[(np.abs(betas) > BETAS_LIMIT).any(axis=1)] = 0.0
    out["betas"] = betas
    out["expression"] = param("expression", NUM_EXPRESSION)
    out["transl"] = param("transl", 3)
    if bool(misc.get("flat_hand_mean", False)):
        if model_dir is None:
            raise HumanDataError(f"{source.name} uses flat_hand_mean=True: pass the SMPL-X model folder to subtract the hand mean.")
        left_mean, right_mean = hand_means(model_dir)
        out["left_hand_pose"] = out["left_hand_pose"] - left_mean
        out["right_hand_pose"] = out["right_hand_pose"] - right_mean
    for name, value in out.items():
        if not np.isfinite(value).all():
            bad = int(np.flatnonzero(~np.isfinite(value).all(axis=1))[0])
            raise HumanDataError(f"{source.name}: smplx['{name}'] has NaN/inf at row {int(rows[bad])}.")
    out["body_pose"] = out["body_pose"].reshape(-1, 21, 3)
    out["left_hand_pose"] = out["left_hand_pose"].reshape(-1, 15, 3)
    out["right_hand_pose"] = out["right_hand_pose"].reshape(-1, 15, 3)
    ids = np.array([f"{image_paths[i]}#{i}" for i in rows])
    np.savez(out_path, sample_ids=ids, splits=np.full(len(rows), split), **{k: v.astype(np.float32) for k, v in out.items()})
    return len(rows)
