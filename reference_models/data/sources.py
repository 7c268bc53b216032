"""Sample records from an image manifest (+ optional GT npz) or a HumanData ``.npz``.

Manifest (held-out image benchmark): ``manifest.json`` with ``{"samples": [{"sample_id", "image",
"bbox_xywh"}, ...], "gt": "gt.npz"?}`` (a bare list also works; aliases: ``image_path``/``file``,
``bbox``/``box``). Paths are relative to the manifest's folder. The GT npz (optional, for training)
uses the prediction/GT layout: ``sample_ids`` + SMPL-X axis-angle arrays (so ``python -m evaluator score``
accepts it as is). 2D keypoints for training, (N, 55, 3) in original-image pixels with confidence, come
from a separate npz named by the manifest's ``"keypoints2d"`` (``sample_ids`` + ``keypoints2d``), or from
a ``keypoints2d`` key inside the GT npz. All loaded with ``allow_pickle=False``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..smplx_layout import PARAM_SHAPES

SMPLX_PARAM_KEYS = tuple(k for k in PARAM_SHAPES if k != "transl")
NUM_KP = 55


class DataError(ValueError):
    """Malformed dataset input; the message names the file, key and sample."""


@dataclass
class Record:
    sample_id: str
    image_path: Path
    bbox_xywh: np.ndarray  # (4,) person box in image pixels
    box_enlarge: float = 1.25
    params: dict[str, np.ndarray] | None = None  # SMPL-X axis-angle, no batch dim
    keypoints2d: np.ndarray | None = None  # (55, 3) x, y, confidence


def _first(entry: dict, keys: tuple[str, ...], where: str):
    for k in keys:
        if k in entry:
            return entry[k]
    raise DataError(f"{where}: missing key, expected one of {keys}")


def load_manifest(path: str | Path, gt_path: str | Path | None = None) -> list[Record]:
    path = Path(path)
    if path.is_dir():
        path = path / "manifest.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"{path}: cannot read manifest ({exc})") from exc
    entries = data.get("samples") if isinstance(data, dict) else data
    if not isinstance(entries, list):
        raise DataError(f"{path}: expected a list of samples or {{'samples': [...]}}")
    records = []
    for i, entry in enumerate(entries):
        where = f"{path} sample #{i}"
        sid = str(_first(entry, ("sample_id", "id"), where))
        box = np.asarray(_first(entry, ("bbox_xywh", "bbox", "box"), f"{where} ({sid})"), dtype=np.float64)
        if box.shape[0] < 4 or box[2] <= 0 or box[3] <= 0:
            raise DataError(f"{where} ({sid}): box must be [x, y, w, h] with w, h > 0, got {box.tolist()}")
        image = path.parent / str(_first(entry, ("image", "image_path", "file"), f"{where} ({sid})"))
        records.append(Record(sid, image, box[:4]))
    if gt_path is None and isinstance(data, dict) and data.get("gt"):
        gt_path = path.parent / data["gt"]
    if gt_path is not None:
        attach_gt(records, Path(gt_path))
        if isinstance(data, dict) and data.get("keypoints2d"):
            attach_keypoints(records, path.parent / data["keypoints2d"])
    return records


def attach_keypoints(records: list[Record], kp_path: Path) -> None:
    """2D keypoints from their own npz (``sample_ids``, ``keypoints2d`` (N, 55, 3)) onto the records."""
    with np.load(kp_path, allow_pickle=False) as data:
        for key in ("sample_ids", "keypoints2d"):
            if key not in data:
                raise DataError(f"{kp_path}: missing key {key!r}")
        index = {str(s): i for i, s in enumerate(data["sample_ids"])}
        kp = data["keypoints2d"].astype(np.float32)
    if kp.shape != (len(index), NUM_KP, 3):
        raise DataError(f"{kp_path}: key 'keypoints2d' has shape {kp.shape}, expected ({len(index)}, {NUM_KP}, 3)")
    for rec in records:
        if rec.sample_id not in index:
            raise DataError(f"{kp_path}: no keypoints for sample id {rec.sample_id!r}")
        rec.keypoints2d = kp[index[rec.sample_id]]


def attach_gt(records: list[Record], gt_path: Path) -> None:
    with np.load(gt_path, allow_pickle=False) as gt:
        if "sample_ids" not in gt:
            raise DataError(f"{gt_path}: missing key 'sample_ids'")
        index = {str(s): i for i, s in enumerate(gt["sample_ids"])}
        arrays = {}
        for key in SMPLX_PARAM_KEYS:
            if key not in gt:
                raise DataError(f"{gt_path}: missing key {key!r}")
            arr = gt[key].astype(np.float32)
            expected = (len(index),) + PARAM_SHAPES[key]
            if arr.reshape(arr.shape[0], -1).shape != (expected[0], int(np.prod(expected[1:]))):
                raise DataError(f"{gt_path}: key {key!r} has shape {arr.shape}, expected {expected}")
            arrays[key] = arr.reshape(expected)
        kp = gt["keypoints2d"].astype(np.float32) if "keypoints2d" in gt else None
    if kp is not None and kp.shape != (len(index), NUM_KP, 3):
        raise DataError(f"{gt_path}: key 'keypoints2d' has shape {kp.shape}, expected ({len(index)}, {NUM_KP}, 3)")
    for rec in records:
        if rec.sample_id not in index:
            raise DataError(f"{gt_path}: no ground truth for sample id {rec.sample_id!r}")
        i = index[rec.sample_id]
        rec.params = {k: v[i] for k, v in arrays.items()}
        rec.keypoints2d = kp[i] if kp is not None else None


KP2D_KEYS = ("keypoints2d", "keypoints2d_smplx", "keypoints2d_smpl", "keypoints2d_original")
# HumanData body boxes already carry 1.2× padding; the loaders use ratio 1.25 · 0.833
HUMANDATA_BOX_ENLARGE = 1.25 * 0.833


def load_humandata(npz_path: str | Path, image_root: str | Path) -> list[Record]:
    """Records from an mmhuman3d HumanData ``.npz`` (SMPLer-X preprocessed training files).

    HumanData stores dicts (``smplx``, ``meta``) as pickled object arrays, so this is the one place
    that loads with ``allow_pickle=True``: these are TRUSTED operator/training files, never user
    uploads. Keypoints use the 190-point HUMAN_DATA convention whose first 55 entries are the SMPL-X
    skeleton joints; only those are used.
    """
    npz_path = Path(npz_path)
    with np.load(npz_path, allow_pickle=True) as data:  # trusted training file, see docstring
        for key in ("image_path", "bbox_xywh", "smplx"):
            if key not in data:
                raise DataError(f"{npz_path}: missing HumanData key {key!r}")
        image_paths = data["image_path"]
        boxes = data["bbox_xywh"].astype(np.float64)
        smplx_dict = data["smplx"].item()
        kp_key = next((k for k in KP2D_KEYS if k in data), None)
        kp = data[kp_key].astype(np.float32) if kp_key else None
        kp_mask = data[f"{kp_key}_mask"] if kp_key and f"{kp_key}_mask" in data else None
        compressed = bool(data["__keypoints_compressed__"]) if "__keypoints_compressed__" in data else False
    n = len(image_paths)
    if kp is not None and compressed and kp_mask is not None:  # only the masked columns were stored
        full = np.zeros((n, kp_mask.shape[0], 3), np.float32)
        full[:, np.flatnonzero(kp_mask)] = kp
        kp = full
    if kp is not None and kp_mask is not None:
        kp[..., 2] *= (kp_mask > 0)[None]
    params = {}
    for key in SMPLX_PARAM_KEYS:
        src = "betas_neutral" if key == "betas" and "betas_neutral" in smplx_dict else key
        if src not in smplx_dict:
            params[key] = np.zeros((n,) + PARAM_SHAPES[key], np.float32)  # missing hands/jaw/expr → zeros (spec §3)
            continue
        arr = np.asarray(smplx_dict[src], dtype=np.float32).reshape(n, -1)[:, : int(np.prod(PARAM_SHAPES[key]))]
        params[key] = arr.reshape((n,) + PARAM_SHAPES[key])
    bad_betas = np.abs(params["betas"]).max(1) > 3  # reference loaders zero implausible shapes
    params["betas"][bad_betas] = 0
    root = Path(image_root)
    records = []
    for i in range(n):
        if boxes[i, 4] <= 0 if boxes.shape[1] > 4 else False:
            continue
        records.append(Record(
            sample_id=f"{npz_path.stem}/{i}", image_path=root / str(image_paths[i]), bbox_xywh=boxes[i, :4],
            box_enlarge=HUMANDATA_BOX_ENLARGE, params={k: v[i] for k, v in params.items()},
            keypoints2d=kp[i, :NUM_KP] if kp is not None else None,
        ))
    return records
