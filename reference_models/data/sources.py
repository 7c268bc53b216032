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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..smplx_layout import PARAM_SHAPES

SMPLX_PARAM_KEYS = tuple(k for k in PARAM_SHAPES if k != "transl")
NUM_KP = 55
# labelled parts: "smplx" = any SMPL-X parameters at all (0 for 2D-only datasets), then the parts the official
# loaders mark valid one by one (SMPLer-X data/humandata.py: lhand_valid, rhand_valid, face_valid, shape valid)
PART_NAMES = ("smplx", "body", "lhand", "rhand", "face", "shape")
BOX_PARTS = ("lhand", "rhand", "face")


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
    # which parts the labels cover (PART_NAMES -> 0/1); an unlabelled part gets zero loss weight, never a zero target
    parts: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PART_NAMES, 1.0))
    part_boxes: dict[str, np.ndarray] | None = None  # lhand/rhand/face xyxy in image pixels, where labelled
    keypoints3d: np.ndarray | None = None  # (55, 4) camera-space x, y, z, valid (HumanData; kept, not a loss target)
    gender: str | None = None
    dataset: str = ""


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
