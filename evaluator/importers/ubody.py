"""UBody intra-scene test (SMPLer-X ``UBody.py``): pseudo-GT SMPL-X params + per-sample camera.

Layout read (the released dataset)::

    ROOT/annotations/<scene>/keypoint_annotation.json   COCO-style images + annotations
    ROOT/annotations/<scene>/smplx_annotation.json      {ann_id: {"smplx_param": {...}, "cam_param": {...}}}
    ROOT/splits/intra_scene_test_list.npy               test video names

Official test sampling, per scene: annotations are counted in file order from 1 and only every
``sample_interval``-th (100 in every SMPLer-X config: ``test_sample_interval``) is considered;
it is then kept only if its video (the image's parent folder, cut at ``_Trim``) is in the test
list, it is not crowd, has keypoints, ``valid_label`` is not 0, it has SMPL-X params, and its box
survives ``process_bbox``. (The reference also drops annotations whose image file is missing:
pass ``images_root`` to apply that check.) Sample id = ``<scene>/<ann_id>``.

GT step (SMPLer-X ``preprocessing.process_human_model_output`` on the test sample, whose outputs
``SMPLer_X.generate_mesh_gt`` builds the GT mesh from): validity flags are the fit's own
``lhand_valid``/``rhand_valid``/``face_valid`` when it has them, else the annotation's
``lefthand_valid``/``righthand_valid``/``face_valid`` (``UBody_Part.load_data``); an invalid or
missing hand pose becomes zeros, an invalid face (or a missing jaw or expression) zeroes both jaw
and expression, and betas with any |beta| > 3 (compared in float32, as the reference's torch
tensor) become all zeros. ``ImportedGT.adjusted`` counts each of these; a fit without
``root_pose``, ``body_pose``, ``shape`` or ``trans`` is refused (the reference raises KeyError).

Camera: the reference decides visibility by projecting the GT mesh with its virtual crop camera
(focal 5000 px and principal point (96, 128) in the 192x256 body crop) mapped back to the image
through the box, i.e. a pinhole with fx = 5000 w / 192, fy = 5000 h / 256, (cx, cy) = box centre;
``camera="official"`` (default) writes those intrinsics, ``camera="dataset"`` the annotation's
own ``cam_param``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .base import GroundTruthImportError, ImportedGT, count, process_bbox

TEST_SAMPLE_INTERVAL = 100
VIRTUAL_FOCAL, BODY_CROP = 5000.0, (192.0, 256.0)  # SMPLer-X cfg.focal, input_body_shape (w, h)
BETAS_LIMIT = 3.0  # SMPLer-X process_human_model_output: "change to mean shape if beta is too far from it"
_PARAMS = {"root_pose": ("global_orient", 3), "body_pose": ("body_pose", 63), "lhand_pose": ("left_hand_pose", 45),
           "rhand_pose": ("right_hand_pose", 45), "jaw_pose": ("jaw_pose", 3), "shape": ("betas", 10),
           "expr": ("expression", 10), "trans": ("transl", 3)}
_REQUIRED = ("root_pose", "body_pose", "shape", "trans")
# (fit flag, annotation flag, fit keys the flag gates: all must be present)
_GATES = (("lhand_valid", "lefthand_valid", ("lhand_pose",)), ("rhand_valid", "righthand_valid", ("rhand_pose",)),
          ("face_valid", "face_valid", ("jaw_pose", "expr")))


def video_name(file_name: str) -> str:
    name = file_name.lstrip("/").split("/")[-2]
    return name.split("_Trim")[0] if "Trim" in name else name


def official_camera(box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y, w, h = (float(v) for v in box)
    return (np.array([VIRTUAL_FOCAL * w / BODY_CROP[0], VIRTUAL_FOCAL * h / BODY_CROP[1]]),
            np.array([x + w / 2, y + h / 2]))


def official_params(p: dict, ann: dict, adjusted: dict[str, int], where: str) -> dict[str, np.ndarray]:
    """The GT parameters of one fit after the reference's GT step (see the module docstring)."""
    missing = [key for key in _REQUIRED if key not in p]
    if missing:
        raise GroundTruthImportError(f"{where}: the SMPL-X fit has no {missing} (the reference needs them)")
    flags = p if "lhand_valid" in p else ann
    out = {ours: np.asarray(p[theirs], np.float64).reshape(-1)[:n] if theirs in p else np.zeros(n)
           for theirs, (ours, n) in _PARAMS.items()}
    for fit_flag, ann_flag, keys in _GATES:
        flag = fit_flag if flags is p else ann_flag
        if flag not in flags:
            raise GroundTruthImportError(f"{where}: no {flag!r} flag (the reference reads it)")
        if not (flags[flag] and all(k in p for k in keys)):
            for key in keys:
                out[_PARAMS[key][0]] = np.zeros(_PARAMS[key][1])
            count(adjusted, f"{'/'.join(_PARAMS[k][0] for k in keys)} zeroed ({flag} false or missing)")
    if (np.abs(np.asarray(p["shape"], np.float32)) > BETAS_LIMIT).any():  # every beta the fit has, not only 10
        out["betas"] = np.zeros_like(out["betas"])
        count(adjusted, f"betas zeroed (|beta| > {BETAS_LIMIT:g})")
    return out


def _load_json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise GroundTruthImportError(f"{path}: {exc}") from None


def parse_ubody(source: str | os.PathLike, sample_interval: int = TEST_SAMPLE_INTERVAL,
                images_root: str | os.PathLike | None = None, camera: str = "official") -> ImportedGT:
    root = Path(source)
    if camera not in ("official", "dataset"):
        raise GroundTruthImportError(f"camera must be 'official' or 'dataset', got {camera!r}")
    split_file = root / "splits" / "intra_scene_test_list.npy"
    if not split_file.is_file():
        raise GroundTruthImportError(f"{root}: missing splits/intra_scene_test_list.npy")
    test_videos = set(np.load(split_file, allow_pickle=False).astype(str).tolist())
    scenes = sorted(p.parent for p in (root / "annotations").glob("*/keypoint_annotation.json"))
    if not scenes:
        raise GroundTruthImportError(f"{root}: no annotations/<scene>/keypoint_annotation.json")
    ids, params, focal, princpt, size, skipped, adjusted, read = [], [], [], [], [], {}, {}, 0
    image_files, boxes = [], []
    for scene_dir in scenes:
        db = _load_json(scene_dir / "keypoint_annotation.json")
        smplx = _load_json(scene_dir / "smplx_annotation.json")
        images = {img["id"]: img for img in db["images"]}
        read += len(db["annotations"])
        for i, ann in enumerate(db["annotations"], start=1):
            if i % max(1, sample_interval):
                count(skipped, f"off the sampling interval (every {sample_interval})")
                continue
            img = images[ann["image_id"]]
            if video_name(img["file_name"]) not in test_videos:
                count(skipped, "not a test video")
                continue
            if images_root is not None and not (Path(images_root) / scene_dir.name / img["file_name"].lstrip("/")).is_file():
                count(skipped, "image file missing")
                continue
            if ann.get("iscrowd") or ann.get("num_keypoints", 0) == 0:
                count(skipped, "crowd or no keypoints")
                continue
            entry = smplx.get(str(ann["id"]))
            if ann.get("valid_label", 1) == 0 or entry is None:
                count(skipped, "invalid label or no SMPL-X fit")
                continue
            box = process_bbox(ann["bbox"], img["width"], img["height"])
            if box is None:
                count(skipped, "bbox outside the image")
                continue
            if "R" in entry.get("cam_param", {}):  # the reference would rotate the root pose; never seen in UBody
                raise GroundTruthImportError(f"{scene_dir.name}/{ann['id']}: cam_param has a rotation 'R'; "
                                             "this importer does not apply camera extrinsics")
            params.append(official_params(entry["smplx_param"], ann, adjusted, f"{scene_dir.name}/{ann['id']}"))
            if camera == "official":
                f, c = official_camera(box)
            else:
                f = np.broadcast_to(np.asarray(entry["cam_param"]["focal"], np.float64).reshape(-1), (2,))
                c = np.asarray(entry["cam_param"]["princpt"], np.float64).reshape(2)
            focal.append(f)
            princpt.append(c)
            size.append((float(img["width"]), float(img["height"])))
            image_files.append(f"{scene_dir.name}/{img['file_name'].lstrip('/')}")  # the reference's images/<scene>/<file>
            boxes.append(box)
            ids.append(f"{scene_dir.name}/{ann['id']}")
    arrays = {ours: np.array([p[ours] for p in params]).reshape(-1, n) for ours, n in _PARAMS.values()}
    arrays["body_pose"] = arrays["body_pose"].reshape(-1, 21, 3)
    for k in ("left_hand_pose", "right_hand_pose"):
        arrays[k] = arrays[k].reshape(-1, 15, 3)
    meta = {"focal": np.array(focal).reshape(-1, 2), "princpt": np.array(princpt).reshape(-1, 2),
            "image_size": np.array(size).reshape(-1, 2)}
    inputs = {"image": np.array(image_files, dtype=str), "box": np.array(boxes).reshape(-1, 4), **meta}
    return ImportedGT(np.array(ids, dtype=str), arrays, schema="smplx-camera", protocol="ubody", meta=meta,
                      skipped=skipped, adjusted=adjusted, rows_read=read, inputs=inputs)
