"""mmhuman3d HumanData test files (SMPLer-X / SMPLest-X preprocessing) -> our GT.

HumanData ``.npz`` files store ``smplx``/``smpl``/``meta``/``misc`` as pickled dicts, so reading
them needs ``allow_pickle=True``. That is acceptable ONLY here: an operator runs this on files
they downloaded from the dataset authors; user uploads never reach this code (they go through
evaluator.formats with ``allow_pickle=False``).

Preprocessing (SMPLest-X ``datasets/humandata.py`` ``HumanDataset.load_data``, SMPLer-X
``data/humandata.py`` and ``preprocessing.process_human_model_output``; reference_evaluation.md §3-4):
- rows flagged off by the dataset (``meta.annot_valid`` false, AGORA; ``meta.valid_label`` 0,
  ``iscrowd`` or ``num_keypoints`` 0, UBody/COCO) are dropped, then every ``sample_interval``-th
  row index is kept (ARCTIC uses 10, UBody 100); then a row whose ``bbox_xywh`` vanishes under
  ``process_bbox`` in its ``meta.height``/``meta.width`` image is dropped, and a row with
  ``betas_extra`` != 0 (an AGORA kid, SMPLest-X only) is dropped. Each drop is counted by reason;
  without ``bbox_xywh`` or image sizes the box filter cannot run and the report says so;
- ``global_orient``, ``body_pose``, ``betas`` (or ``betas_neutral``, which wins) and ``transl`` are
  required: a file without one is refused unless ``fill_missing`` names it (zeros, reported);
- ``betas_neutral``, when present, replaces ``betas``; only 10 are kept;
- ``zero_large_betas`` (default, SMPLer-X ``process_human_model_output``): a sample with any
  |beta| > 3 (float32) gets all-zero betas; ``False`` keeps them (SMPLest-X scores its GT mesh
  ``mesh_cam_orig``, built before that step);
- a missing hand pose becomes zeros; a missing jaw pose or expression zeroes both (the reference
  gates the face on both keys); eye poses are always zero; each is counted in ``filled``;
- ``misc.flat_hand_mean`` true: the MANO hand mean is subtracted (our layer adds it back);
- a file with ``smpl`` and no ``smplx`` (SMPLest-X's 3DPW test) gives SMPL GT with ``meta.gender``.
Sample id = ``<image_path>#<row>``, unique even with several people per image.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import GroundTruthImportError, ImportedGT, count, process_bbox

BETAS_LIMIT = 3.0
NUM_BETAS = NUM_EXPRESSION = 10
POSE_KEYS = {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3}
SMPL_POSE_KEYS = {"global_orient": 3, "body_pose": 69}
REQUIRED_KEYS = ("global_orient", "body_pose", "betas", "transl")  # the reference reads them unconditionally


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


def filtered_rows(meta: dict, n: int, interval: int, skipped: dict[str, int] | None = None) -> np.ndarray:
    """Row indices SMPLest-X ``load_data`` keeps before its box check, counting each drop in ``skipped``."""
    skipped = {} if skipped is None else skipped
    keep = np.ones(n, bool)

    def drop(reason: str, mask) -> None:
        nonlocal keep
        mask = np.asarray(mask).reshape(n)
        count(skipped, reason, int((keep & mask).sum()))
        keep &= ~mask

    if "annot_valid" in meta:
        drop("meta.annot_valid false", ~np.asarray(meta["annot_valid"]).astype(bool))
    if "valid_label" in meta:
        drop("meta.valid_label 0", np.asarray(meta["valid_label"]) == 0)
    if "iscrowd" in meta:
        drop("meta.iscrowd", np.asarray(meta["iscrowd"]).astype(bool))
    if "num_keypoints" in meta:
        drop("meta.num_keypoints 0", np.asarray(meta["num_keypoints"]) == 0)
    drop(f"off the sampling interval (every {interval})", np.arange(n) % max(1, interval) != 0)
    return np.flatnonzero(keep)


def _kept_rows(meta: dict, n: int, interval: int) -> np.ndarray:
    return filtered_rows(meta, n, interval)


def _box_and_kid_filter(data, meta: dict, params: dict, rows: np.ndarray, skipped: dict[str, int],
                        notes: list[str], crops: dict[int, np.ndarray]) -> np.ndarray:
    """Drop rows whose person box vanishes under ``process_bbox`` and AGORA kids; ``crops`` gets each kept
    row's crop box (the public model input)."""
    n = len(np.asarray(data["image_path"]))
    if "bbox_xywh" in data.files and "height" in meta and "width" in meta:
        boxes = np.asarray(data["bbox_xywh"], np.float64).reshape(n, -1)
        heights, widths = np.asarray(meta["height"]).reshape(n), np.asarray(meta["width"]).reshape(n)
        crops.update((int(i), process_bbox(boxes[i, :4], widths[i], heights[i])) for i in rows)
        ok = np.array([crops[int(i)] is not None for i in rows], bool)
        count(skipped, "bbox outside the image", int((~ok).sum()))
        rows = rows[ok]
    else:
        notes.append("box filter not applied: the file has no bbox_xywh or no meta.height/width")
    if "betas_extra" in params:
        kid = np.asarray(params["betas_extra"], np.float64).reshape(n, -1)[rows].any(axis=1)
        count(skipped, "betas_extra != 0 (a kid, SMPLest-X)", int(kid.sum()))
        rows = rows[~kid]
    return rows


def parse_humandata(source: str | os.PathLike, model_dir: str | os.PathLike | None = None,
                    sample_interval: int = 1, zero_large_betas: bool = True,
                    fill_missing: list[str] | str | None = None) -> ImportedGT:
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
        params = smplx or smpl
        n = len(image_paths)
        skipped, filled, adjusted, notes, crops = {}, {}, {}, [], {}
        rows = _box_and_kid_filter(data, meta, params, filtered_rows(meta, n, sample_interval, skipped), skipped, notes,
                                   crops)
    fill = {fill_missing} if isinstance(fill_missing, str) else set(fill_missing or ())
    if fill - set(REQUIRED_KEYS):
        raise GroundTruthImportError(f"fill_missing takes {list(REQUIRED_KEYS)}, not {sorted(fill - set(REQUIRED_KEYS))}")
    present = set(params) | ({"betas"} if "betas_neutral" in params else set())
    missing = [key for key in REQUIRED_KEYS if key not in present and key not in fill]
    if missing:
        raise GroundTruthImportError(f"{source.name}: no {missing} in its parameter dict (keys: {sorted(params)}); "
                                     "pass fill_missing (--fill-missing KEY) to use zeros instead")

    def param(key: str, size: int) -> np.ndarray:
        if key not in params:
            count(filled, f"{key} (zeros)", len(rows))
            return np.zeros((len(rows), size))
        value = np.asarray(params[key], dtype=np.float64).reshape(n, -1)
        if value.shape[1] < size:
            raise GroundTruthImportError(f"{source.name}: '{key}' has {value.shape[1]} values per sample, expected {size}.")
        return value[rows, :size]

    keys = POSE_KEYS if smplx else SMPL_POSE_KEYS
    out = {key: param(key, size) for key, size in keys.items()}
    betas = param("betas_neutral" if "betas_neutral" in params else "betas", NUM_BETAS)
    if zero_large_betas:
        large = (np.abs(betas.astype(np.float32)) > BETAS_LIMIT).any(axis=1)
        betas[large] = 0.0
        count(adjusted, f"betas zeroed (|beta| > {BETAS_LIMIT:g})", int(large.sum()))
    out["betas"] = betas
    if smplx:
        out["expression"] = param("expression", NUM_EXPRESSION)
        if "jaw_pose" not in params or "expression" not in params:  # the reference's face gate needs both keys
            nonzero = out["jaw_pose"].any(axis=1) | out["expression"].any(axis=1)
            count(adjusted, "jaw_pose/expression zeroed (the other is missing)", int(nonzero.sum()))
            out["jaw_pose"][:], out["expression"][:] = 0.0, 0.0
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
    inputs = {"image": image_paths[rows]}
    if crops:
        inputs["box"] = np.array([crops[int(i)] for i in rows]).reshape(-1, 4)
    if "height" in meta and "width" in meta:
        inputs["image_size"] = np.c_[np.asarray(meta["width"]).reshape(n), np.asarray(meta["height"]).reshape(n)][rows]
    if not smplx:
        genders = np.asarray(meta.get("gender", ["neutral"] * n)).astype(str).reshape(n)[rows]
        genders = np.char.lower(np.where(np.isin(np.char.lower(genders), ["m", "f"]),
                                         np.where(np.char.lower(genders) == "m", "male", "female"), genders))
        out["body_pose"] = out["body_pose"].reshape(-1, 23, 3)
        return ImportedGT(ids, out, schema="smpl", protocol="3dpw", meta={"gender": genders}, skipped=skipped,
                          adjusted=adjusted, filled=filled, rows_read=n, notes=notes, inputs=inputs)
    out["body_pose"] = out["body_pose"].reshape(-1, 21, 3)
    out["left_hand_pose"] = out["left_hand_pose"].reshape(-1, 15, 3)
    out["right_hand_pose"] = out["right_hand_pose"].reshape(-1, 15, 3)
    return ImportedGT(ids, out, schema="smplx", protocol="smplx-generic", skipped=skipped, adjusted=adjusted,
                      filled=filled, rows_read=n, notes=notes, inputs=inputs)
