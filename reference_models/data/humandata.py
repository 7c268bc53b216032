"""HumanData training files (the SMPLer-X / SMPLest-X preprocessed ``.npz``) as the official loaders read them.

Restated from caizhongang/SMPLer-X ``data/humandata.py`` (``HumanDataset.load_data``) and SMPLCap/SMPLest-X
``datasets/humandata.py``:

- rows: the dataset's own flags in ``meta`` drop rows (``annot_valid``, ``valid_label``, ``iscrowd``,
  ``num_keypoints`` 0: SMPLest-X), then every ``sample_interval``-th row is kept (per dataset in the configs,
  e.g. BEDLAM 5, UBody 10) — the same row rule as the GT importer (``evaluator.importers.humandata``);
- boxes: ``bbox_xywh`` (body, already padded ×1.2, so enlarged by ratio·0.833), ``lhand_bbox_xywh``,
  ``rhand_bbox_xywh``, ``face_bbox_xywh`` used where their 5th value (confidence) is > 0;
- keypoints: the first present of the 2D keys / 3D keys below, with ``<key>_mask`` (or the generic
  ``keypoints2d_mask`` / ``keypoints3d_mask``); ``__keypoints_compressed__`` files store only the masked
  columns and are zero-padded back;
- parameters: ``smplx`` (or ``smpl``: body pose only, shape dropped; or ``smplh``: shape dropped) with
  ``betas_neutral`` preferred over ``betas``; |β| > 3 → zero betas, and all-zero betas carry no shape label;
  a missing hand pose (or, as SMPLest-X, an all-zero one) or missing expression marks that part unlabelled;
  ``misc.flat_hand_mean`` files get the MANO hand mean subtracted; a file with no parameter dict at all is a
  2D-only dataset (only the 2D terms train on it);
- ``meta.gender`` and ``meta.height``/``width`` are kept per row.

HumanData stores dicts as pickled object arrays, so this module loads with ``allow_pickle=True``: these are
TRUSTED operator/training files, never user uploads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from evaluator.importers.humandata import BETAS_LIMIT, _dict_item, filtered_rows, hand_means
from ..smplx_layout import PARAM_SHAPES
from .sources import BOX_PARTS, NUM_KP, PART_NAMES, SMPLX_PARAM_KEYS, DataError, Record

KP2D_KEYS = ("keypoints2d", "keypoints2d_smplx", "keypoints2d_smpl", "keypoints2d_original")
# keypoints3d_cam (root-aligned) first, then the older key names (official KPS3D_KEYS order)
KP3D_KEYS = ("keypoints3d_cam", "keypoints3d", "keypoints3d_smplx", "keypoints3d_smpl", "keypoints3d_original")
# the body boxes already carry 1.2× padding; the loaders use ratio 1.25 · 0.833
HUMANDATA_BOX_ENLARGE = 1.25 * 0.833
PARAM_DICT_KEYS = ("smplx", "smpl", "smplh")
PART_PARAMS = {"lhand": "left_hand_pose", "rhand": "right_hand_pose", "face": "expression"}


def _keypoints(data, keys: tuple[str, ...], generic_mask: str, n: int) -> tuple[np.ndarray | None, str | None]:
    """(N, 55, C+1) keypoints of the first present key with its mask folded into the last column."""
    key = next((k for k in keys if k in data.files), None)
    if key is None:
        return None, None
    kp = np.asarray(data[key], np.float32)
    mask_key = f"{key}_mask" if f"{key}_mask" in data.files else generic_mask if generic_mask in data.files else None
    mask = np.asarray(data[mask_key]).reshape(-1) if mask_key else np.ones(kp.shape[1], np.float32)
    compressed = bool(data["__keypoints_compressed__"]) if "__keypoints_compressed__" in data.files else False
    if compressed:  # only the masked columns were stored
        if mask_key is None:
            raise DataError(f"compressed keypoints {key!r} without a mask")
        full = np.zeros((n, mask.shape[0], kp.shape[2]), np.float32)
        full[:, np.flatnonzero(mask)] = kp
        kp = full
    if kp.shape[0] != n or kp.shape[1] < NUM_KP:
        raise DataError(f"key {key!r} has shape {kp.shape}, expected ({n}, >= {NUM_KP}, C)")
    coords = kp[:, :NUM_KP, : (2 if key in KP2D_KEYS else 3)]
    valid = (mask[:NUM_KP] > 0).astype(np.float32)[None, :, None].repeat(n, 0)
    if key in KP2D_KEYS and kp.shape[2] > 2:  # a per-point confidence, where stored, also counts
        valid = valid * (kp[:, :NUM_KP, 2:3] > 0)
    return np.concatenate((coords, valid), -1), key


def _params(pdict: dict, kind: str, n: int, rows: np.ndarray, flat_hand_mean: bool, model_dir) -> tuple[dict, dict]:
    """SMPL-X params of the kept rows (zeros where a part is missing) and per-row part validity."""
    def take(key: str, size: int) -> np.ndarray | None:
        if key not in pdict or pdict[key] is None:
            return None
        value = np.asarray(pdict[key], np.float32).reshape(n, -1)
        if value.shape[1] < size:
            raise DataError(f"'{kind}.{key}' has {value.shape[1]} values per row, expected {size}")
        return value[rows, :size]

    m = len(rows)
    params, parts = {}, {name: np.ones(m, np.float32) for name in PART_NAMES}
    for key in SMPLX_PARAM_KEYS:
        size = int(np.prod(PARAM_SHAPES[key]))
        src = "betas_neutral" if key == "betas" and "betas_neutral" in pdict else key
        value = take(src, size) if kind == "smplx" or key in ("global_orient", "body_pose", "betas") else None
        params[key] = (np.zeros((m, size), np.float32) if value is None else value).reshape((m,) + PARAM_SHAPES[key])
        if value is None and key in ("global_orient", "body_pose"):
            parts["body"][:] = 0
    if kind != "smplx":  # SMPL / SMPL+H betas are not SMPL-X betas
        params["betas"][:] = 0
    if flat_hand_mean and kind == "smplx":
        if model_dir is None:
            raise DataError("misc.flat_hand_mean is set: the SMPL-X model folder is needed to subtract the hand mean")
        left, right = hand_means(model_dir)
        params["left_hand_pose"] -= left.reshape(15, 3).astype(np.float32)
        params["right_hand_pose"] -= right.reshape(15, 3).astype(np.float32)
    for part, key in PART_PARAMS.items():
        present = kind == "smplx" and key in pdict and pdict[key] is not None
        if part == "face":
            present = present and "jaw_pose" in pdict
        parts[part] *= float(present)
        if part != "face" and present:  # SMPLest-X: an all-zero hand pose is no label either
            raw = take(key, 45)
            parts[part] *= np.abs(raw).max(1) > 0
    large = np.abs(params["betas"]).max(1) > BETAS_LIMIT
    params["betas"][large] = 0
    parts["shape"] *= np.abs(params["betas"]).max(1) > 0
    return params, parts


def load_humandata(npz_path: str | Path, image_root: str | Path = ".", *, name: str | None = None,
                   sample_interval: int = 1, model_dir: str | Path | None = None,
                   box_enlarge: float = HUMANDATA_BOX_ENLARGE) -> list[Record]:
    """Records of one HumanData file; ``name`` (default: file stem) is the dataset name in logs and mixing."""
    npz_path = Path(npz_path)
    name = name or npz_path.stem
    try:
        data = np.load(npz_path, allow_pickle=True)  # trusted training file, see module docstring
    except (OSError, ValueError) as exc:
        raise DataError(f"{npz_path}: not a HumanData .npz ({exc})") from None
    with data:
        for key in ("image_path", "bbox_xywh"):
            if key not in data.files:
                raise DataError(f"{npz_path}: missing HumanData key {key!r}")
        image_paths = np.asarray(data["image_path"]).astype(str)
        n = len(image_paths)
        meta, misc = _dict_item(data, "meta"), _dict_item(data, "misc")
        rows = filtered_rows(meta, n, sample_interval)
        boxes = np.asarray(data["bbox_xywh"], np.float64).reshape(n, -1)
        part_boxes = {p: np.asarray(data[f"{p}_bbox_xywh"], np.float64).reshape(n, -1)[rows]
                      for p in BOX_PARTS if f"{p}_bbox_xywh" in data.files}
        try:
            kp2d, _ = _keypoints(data, KP2D_KEYS, "keypoints2d_mask", n)
            kp3d, _ = _keypoints(data, KP3D_KEYS, "keypoints3d_mask", n)
        except DataError as exc:
            raise DataError(f"{npz_path}: {exc}") from None
        kind = next((k for k in PARAM_DICT_KEYS if _dict_item(data, k)), None)
        pdict = _dict_item(data, kind) if kind else {}
    if kind is None and kp2d is None:
        raise DataError(f"{npz_path}: neither a parameter dict ({'/'.join(PARAM_DICT_KEYS)}) nor 2D keypoints")
    try:
        params, parts = _params(pdict, kind, n, rows, bool(misc.get("flat_hand_mean", False)), model_dir) \
            if kind else (None, None)
    except DataError as exc:
        raise DataError(f"{npz_path}: {exc}") from None
    genders = np.asarray(meta["gender"]).astype(str).reshape(-1) if "gender" in meta else None
    root = Path(image_root)
    records = []
    for j, i in enumerate(rows):
        if boxes.shape[1] > 4 and boxes[i, 4] <= 0:
            continue
        if kp3d is not None and not np.isfinite(kp3d[i]).all():  # the official loaders skip NaN 3D keypoints
            continue
        rec_parts = {p: float(parts[p][j]) for p in PART_NAMES} if parts else {**dict.fromkeys(PART_NAMES, 0.0)}
        pboxes = {}
        for part, arr in part_boxes.items():
            if arr.shape[1] < 5 or arr[j, 4] > 0:
                x, y, w, h = arr[j, :4]
                pboxes[part] = np.array([x, y, x + w, y + h], np.float32)
        records.append(Record(
            sample_id=f"{name}/{i}", image_path=root / image_paths[i], bbox_xywh=boxes[i, :4],
            box_enlarge=box_enlarge, params={k: v[j] for k, v in params.items()} if params else None,
            keypoints2d=kp2d[i] if kp2d is not None else None, parts=rec_parts, part_boxes=pboxes or None,
            keypoints3d=kp3d[i] if kp3d is not None else None,
            gender=str(genders[i]) if genders is not None and len(genders) == n else None, dataset=name,
        ))
    return records
