"""3DPW test (SMPLer-X ``PW3D.py``): ``3DPW_test.json`` (COCO-style) -> gendered SMPL params.

Each annotation carries ``smpl_param`` {``pose`` (72 = root 3 + 23 x 3), ``shape`` (10),
``trans`` (3), ``gender``} in the camera frame and a ``bbox``; the image record gives width and
height. Official filtering: ``process_bbox`` (ratio 1.25) vanishing -> dropped. Every annotation
is kept otherwise (the test split has no sampling interval). GT step: none; the reference scores
``smpl_mesh_cam_orig``, the mesh built before ``process_human_model_output`` zeroes |beta| > 3, so
betas stay as annotated. Sample id = the annotation id.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .base import GroundTruthImportError, ImportedGT, count, process_bbox


def parse_3dpw(source: str | os.PathLike, bbox_ratio: float = 1.25) -> ImportedGT:
    source = Path(source)
    try:
        db = json.loads(source.read_text())
        images = {img["id"]: img for img in db["images"]}
        anns = db["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GroundTruthImportError(f"{source.name}: not a 3DPW COCO-style annotation file ({exc})") from None
    ids, rows, genders, skipped = [], [], [], {}
    inputs: dict[str, list] = {"image": [], "image_size": [], "box": [], "focal": [], "princpt": []}
    for ann in anns:
        img = images.get(ann["image_id"])
        if img is None:
            raise GroundTruthImportError(f"{source.name}: annotation {ann['id']} names unknown image {ann['image_id']}")
        box = process_bbox(ann["bbox"], img["width"], img["height"], bbox_ratio)
        if box is None:
            count(skipped, "bbox outside the image")
            continue
        if "R" in img.get("cam_param", {}):  # the reference would rotate the root (process_human_model_output)
            raise GroundTruthImportError(f"{source.name}: image {img['id']} has a camera rotation 'R'; this importer "
                                         "reads SMPL params already in the camera frame")
        p = ann["smpl_param"]
        pose = np.asarray(p["pose"], dtype=np.float64).reshape(-1)
        if pose.size != 72:
            raise GroundTruthImportError(f"{source.name}: annotation {ann['id']}: pose has {pose.size} values, expected 72")
        rows.append((pose, np.asarray(p["shape"], np.float64).reshape(-1)[:10], np.asarray(p["trans"], np.float64).reshape(3)))
        genders.append(str(p.get("gender", "neutral")).lower())
        ids.append(str(ann["id"]))
        cam = img.get("cam_param", {})  # the phone camera the reference projects with (PW3D.py cam_param)
        for name, value in (("image", "/".join(["imageFiles", img["sequence"], img["file_name"]]) if "sequence" in img
                             else img.get("file_name", "")), ("image_size", (img["width"], img["height"])), ("box", box),
                            ("focal", cam.get("focal", (np.nan, np.nan))), ("princpt", cam.get("princpt", (np.nan, np.nan)))):
            inputs[name].append(value)
    arrays = {
        "global_orient": np.array([r[0][:3] for r in rows]).reshape(-1, 3),
        "body_pose": np.array([r[0][3:] for r in rows]).reshape(-1, 23, 3),
        "betas": np.array([r[1] for r in rows]).reshape(-1, 10),
        "transl": np.array([r[2] for r in rows]).reshape(-1, 3),
    }
    return ImportedGT(np.array(ids, dtype=str), arrays, schema="smpl", protocol="3dpw",
                      meta={"gender": np.array(genders, dtype=str)}, skipped=skipped, rows_read=len(anns),
                      inputs={k: np.array(v, dtype=str if k == "image" else np.float64) for k, v in inputs.items()})
