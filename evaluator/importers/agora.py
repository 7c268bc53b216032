"""AGORA validation (SMPLer-X ``AGORA.py``, OSX-prepared annotations): camera-frame SMPL-X vertices.

``AGORA_validation.json`` is COCO-style: ``images`` and ``annotations`` with ``is_valid``, ``bbox``
(x, y, w, h in 3840x2160 pixels) and ``smplx_verts_path`` (a JSON list of 10475 x 3 floats,
relative to the data folder). Official filtering, in order: ``is_valid`` false -> dropped; the
person box, scaled to 1280x720, sanitized and grown as ``process_bbox`` does, vanishes -> dropped
(the 720p setting; the 4K setting instead drops annotations without a crop file, which the OSX
preprocessing wrote for exactly these boxes). Sample id = the annotation id.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..skeleton import NUM_VERTICES
from .base import GroundTruthImportError, ImportedGT, count, process_bbox

FULL_RES, LOW_RES = (3840, 2160), (1280, 720)


def parse_agora(source: str | os.PathLike, data_root: str | os.PathLike | None = None,
                bbox_ratio: float = 1.25) -> ImportedGT:
    """``source``: ``AGORA_validation.json``; vertex paths resolve against ``data_root`` (default:
    the JSON's folder)."""
    source = Path(source)
    root = Path(data_root) if data_root is not None else source.parent
    try:
        db = json.loads(source.read_text())
        anns = db["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundTruthImportError(f"{source.name}: not an AGORA COCO-style annotation file ({exc})") from None
    images = {img["id"]: img for img in db.get("images", [])}
    ids, verts, skipped, names, boxes = [], [], {}, [], []
    sx, sy = LOW_RES[0] / FULL_RES[0], LOW_RES[1] / FULL_RES[1]
    for ann in anns:
        if not ann.get("is_valid", False):
            count(skipped, "is_valid false")
            continue
        x, y, w, h = (float(v) for v in ann["bbox"])
        box = process_bbox((x * sx, y * sy, w * sx, h * sy), LOW_RES[0], LOW_RES[1], bbox_ratio)
        if box is None:
            count(skipped, "bbox outside the image")
            continue
        path = root / ann["smplx_verts_path"]
        try:
            v = np.asarray(json.loads(path.read_text()), dtype=np.float64).reshape(-1, 3)
        except (OSError, ValueError) as exc:
            raise GroundTruthImportError(f"{path.name} (annotation {ann.get('id')}): {exc}") from None
        if v.shape != (NUM_VERTICES, 3):
            raise GroundTruthImportError(f"{path.name}: {len(v)} vertices, expected {NUM_VERTICES}")
        ids.append(str(ann["id"]))
        verts.append(v)
        img = images.get(ann.get("image_id"), {})
        names.append(img.get("file_name_1280x720", img.get("file_name", "")))  # the 720p setting's image
        boxes.append(box)
    arrays = {"vertices": np.stack(verts) if verts else np.zeros((0, NUM_VERTICES, 3))}
    inputs = {"image": np.array(names, dtype=str), "box": np.array(boxes).reshape(-1, 4),
              "image_size": np.tile(np.array(LOW_RES, np.float64), (len(ids), 1))}
    return ImportedGT(np.array(ids, dtype=str), arrays, schema="smplx", protocol="agora-val", skipped=skipped,
                      rows_read=len(anns), inputs=inputs)
