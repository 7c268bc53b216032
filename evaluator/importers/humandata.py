"""mmhuman3d HumanData test files (SMPLer-X / SMPLest-X preprocessing) -> our GT.

HumanData ``.npz`` files store ``smplx``/``smpl``/``meta``/``misc`` as pickled dicts, so reading
them needs ``allow_pickle=True``. That is acceptable ONLY here: an operator runs this on files
they downloaded from the dataset authors; user uploads never reach this code (they go through
evaluator.formats with ``allow_pickle=False``).

Preprocessing (reference_evaluation.md §3-4):
- rows flagged off by the dataset (``meta.annot_valid`` false, AGORA; ``meta.valid_label`` 0,
  ``iscrowd`` or ``num_keypoints`` 0, UBody/COCO) are dropped, then every ``sample_interval``-th
  row index is kept (SMPLest-X ``load_data``; ARCTIC uses 10, UBody 100);
- ``betas_neutral``, when present, replaces ``betas``; only 10 are kept;
- ``zero_large_betas`` (default, SMPLer-X ``process_human_model_output``): a sample with any
  |beta| > 3 gets all-zero betas; ``False`` keeps them (SMPLest-X builds its GT mesh first);
- missing hand poses, jaw or expression become zeros; eye poses are always zero;
- ``misc.flat_hand_mean`` true: the MANO hand mean is subtracted (our layer adds it back);
- a file with ``smpl`` and no ``smplx`` (SMPLest-X's 3DPW test) gives SMPL GT with ``meta.gender``.
Sample id = ``<image_path>#<row>``, unique even with several people per image.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import GroundTruthImportError, ImportedGT

BETAS_LIMIT = 3.0
NUM_BETAS = NUM_EXPRESSION = 10
POSE_KEYS = {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3}
SMPL_POSE_KEYS = {"global_orient": 3, "body_pose": 69}


def _dict_item(data, key: str) -> dict:
    if key not in data.files:
        return {}
    value = data[key]
    return value.item() if value.dtype == object and value.shape == () else {}


def hand_means(model_dir: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) MANO hand means (45,) of the neutral SMPL-X model in ``model_dir``."""
    from ..assets import SMPLX_SUBDIR, resolve_model_dir

    with np.load(resolve_model_dir(model_dir) / SMPLX_SUBDIR / "SMPLX_NEUTRAL.npz", allow_pickle=False) as model:
        return (np.asarray(model["hands_meanl"], np.float64).reshape(45),
                np.asarray(model["hands_meanr"], np.float64).reshape(45))


def _kept_rows(meta: dict, n: int, interval: int) -> np.ndarray:
    keep = np.ones(n, bool)
    if "annot_valid" in meta:
        keep &= np.asarray(meta["annot_valid"]).astype(bool).reshape(n)
    if "valid_label" in meta:
        keep &= np.asarray(meta["valid_label"]).reshape(n) != 0
    for key in ("iscrowd",):
        if key in meta:
            keep &= ~np.asarray(meta[key]).astype(bool).reshape(n)
    if "num_keypoints" in meta:
        keep &= np.asarray(meta["num_keypoints"]).reshape(n) != 0
    keep &= np.arange(n) % max(1, interval) == 0
    return np.flatnonzero(keep)


def parse_humandata(source: str | os.PathLike, model_dir: str | os.PathLike | None = None,
                    sample_interval: int = 1, zero_large_betas: bool = True) -> ImportedGT:
    source = Path(source)
    try:
        data = np.load(source, allow_pickle=True)  # trusted operator file, see module docstring
    except (OSError, ValueError) as exc:
        raise GroundTruthImportError(f"{source.name}: not a HumanData .npz ({exc})") from None
    with data:
        if "image_path" not in data.files:
            raise GroundTruthImportError(f"{source.name}: no 'image_path' key; is this a HumanData file?")
        smplx, smpl = _dict_item(data, "smplx"), _dict_item(data, "smpl")
        if not smplx and not smpl:
            raise GroundTruthImportError(f"{source.name}: no 'smplx' (or 'smpl') parameter dict (keys: {sorted(data.files)}).")
        meta, misc = _dict_item(data, "meta"), _dict_item(data, "misc")
        image_paths = np.asarray(data["image_path"]).astype(str)
    n = len(image_paths)
    rows = _kept_rows(meta, n, sample_interval)
    params = smplx or smpl

    def param(key: str, size: int) -> np.ndarray:
        if key not in params:
            return np.zeros((len(rows), size))
        value = np.asarray(params[key], dtype=np.float64).reshape(n, -1)
        if value.shape[1] < size:
            raise GroundTruthImportError(f"{source.name}: '{key}' has {value.shape[1]} values per sample, expected {size}.")
        return value[rows, :size]

    keys = POSE_KEYS if smplx else SMPL_POSE_KEYS
    out = {key: param(key, size) for key, size in keys.items()}
    betas = param("betas_neutral" if "betas_neutral" in params else "betas", NUM_BETAS)
    if zero_large_betas:
        betas[(np.abs(betas) > BETAS_LIMIT).any(axis=1)] = 0.0
    out["betas"] = betas
    if smplx:
        out["expression"] = param("expression", NUM_EXPRESSION)
    out["transl"] = param("transl", 3)
    if smplx and bool(misc.get("flat_hand_mean", False)):
        if model_dir is None:
            raise GroundTruthImportError(f"{source.name} uses flat_hand_mean=True: pass the SMPL-X model folder to "
                                         "subtract the hand mean.")
        left_mean, right_mean = hand_means(model_dir)
        out["left_hand_pose"] = out["left_hand_pose"] - left_mean
        out["right_hand_pose"] = out["right_hand_pose"] - right_mean
    for name, value in out.items():
        if not np.isfinite(value).all():
            bad = int(np.flatnonzero(~np.isfinite(value).all(axis=1))[0])
            raise GroundTruthImportError(f"{source.name}: '{name}' has NaN/inf at row {int(rows[bad])}.")
    ids = np.array([f"{image_paths[i]}#{i}" for i in rows])
    if not smplx:
        genders = np.asarray(meta.get("gender", ["neutral"] * n)).astype(str).reshape(n)[rows]
        genders = np.char.lower(np.where(np.isin(np.char.lower(genders), ["m", "f"]),
                                         np.where(np.char.lower(genders) == "m", "male", "female"), genders))
        out["body_pose"] = out["body_pose"].reshape(-1, 23, 3)
        return ImportedGT(ids, out, schema="smpl", protocol="3dpw", meta={"gender": genders})
    out["body_pose"] = out["body_pose"].reshape(-1, 21, 3)
    out["left_hand_pose"] = out["left_hand_pose"].reshape(-1, 15, 3)
    out["right_hand_pose"] = out["right_hand_pose"].reshape(-1, 15, 3)
    return ImportedGT(ids, out, schema="smplx", protocol="smplx-generic")
