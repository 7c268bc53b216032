"""EHF (SMPLer-X ``EHF.py``): 100 frames, GT = ``NN_align.ply`` SMPL-X-topology registrations.

The registrations are in the scanner frame; SMPLer-X rotates them into the camera frame with the
fixed EHF camera rotation R = Rodrigues(EHF_CAMERA_ROTATION) before scoring (no translation: every
metric is alignment-based). Sample id = the frame number ``NN`` (the image ``NN_img.jpg``).

Inputs: with ``EHF.json`` (the reference's COCO-style file: ``images`` with ``file_name``/``width``/``height``,
``annotations`` with ``body_bbox``) beside the registrations, each frame gets the box the reference crops with
(``process_bbox`` of ``body_bbox``; a frame whose box vanishes is dropped, as ``EHF.load_data`` does); without
it only the image name is known.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import NUM_VERTICES
import json

from .base import GroundTruthImportError, ImportedGT, count, process_bbox, rodrigues
from .ply import read_ply_vertices

EHF_CAMERA_ROTATION = (-2.98747896, 0.01172457, -0.05704687)  # SMPLer-X EHF.__init__ cam_param['R']


def parse_ehf(source: str | os.PathLike) -> ImportedGT:
    """``source``: the EHF data folder (or one ``*_align.ply``)."""
    source = Path(source)
    files = [source] if source.is_file() else sorted(source.glob("*_align.ply"))
    if not files:
        raise GroundTruthImportError(f"{source}: no *_align.ply registrations found")
    R = rodrigues(EHF_CAMERA_ROTATION)
    crops = _official_crops(files[0].parent / "EHF.json")
    ids, verts, skipped = [], [], {}
    inputs: dict[str, list] = {"image": [], "image_size": [], "box": []}
    for path in files:
        frame = path.name.split("_")[0]
        image, size, box = crops.get(frame, (f"{frame}_img.jpg", (np.nan, np.nan), (np.nan,) * 4))
        if box is None:
            count(skipped, "bbox outside the image")
            continue
        v = read_ply_vertices(path)
        if v.shape != (NUM_VERTICES, 3):
            raise GroundTruthImportError(f"{path.name}: {len(v)} vertices, expected {NUM_VERTICES} (SMPL-X topology)")
        verts.append(v @ R.T)
        ids.append(frame)
        for name, value in (("image", image), ("image_size", size), ("box", box)):
            inputs[name].append(value)
    if not ids:
        raise GroundTruthImportError(f"{source}: no registration left (skipped: {skipped})")
    return ImportedGT(np.array(ids), {"vertices": np.stack(verts)}, schema="smplx", protocol="ehf", rows_read=len(files),
                      skipped=skipped, notes=[] if crops else ["no EHF.json beside the registrations: no person boxes"],
                      inputs={k: np.array(v, dtype=str if k == "image" else np.float64) for k, v in inputs.items()})


def _official_crops(path: Path) -> dict[str, tuple[str, tuple[float, float], np.ndarray | None]]:
    """frame -> (image file, (W, H), process_bbox(body_bbox) or None) from the reference's EHF.json, if present."""
    if not path.is_file():
        return {}
    try:
        db = json.loads(path.read_text())
        images = {img["id"]: img for img in db["images"]}
        out = {}
        for ann in db["annotations"]:
            img = images[ann["image_id"]]
            box = process_bbox(ann["body_bbox"], img["width"], img["height"])
            out[img["file_name"].split("_")[0]] = (img["file_name"], (img["width"], img["height"]), box)
        return out
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundTruthImportError(f"{path.name}: not the reference's EHF annotation file ({exc})") from None
