"""Seeded synthetic UBody release (annotations only) with every validity flag mixed and betas beyond
+-3, shared by the importer tests and the hand-run comparison against the official UBody class."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SCENE = "Talk"
VIDEOS = ("Talk_01_Trim3", "Talk_02", "Other_05")  # the first two are test videos


def write_ubody_root(root: Path, seed: int = 21, n: int = 1200) -> list[str]:
    """Write ``root/annotations/Talk/*.json`` and ``root/splits``; returns every image file name."""
    rng = np.random.default_rng(seed)
    (root / "splits").mkdir(parents=True, exist_ok=True)
    np.save(root / "splits" / "intra_scene_test_list.npy", np.array(["Talk_01", "Talk_02"]))
    scene = root / "annotations" / SCENE
    scene.mkdir(parents=True, exist_ok=True)
    images, anns, smplx = [], [], {}

    def keypoints(k: int) -> list[float]:
        return np.c_[rng.uniform(300, 900, (k, 2)), np.ones(k)].reshape(-1).tolist()

    for i in range(1, n + 1):
        images.append({"id": i, "file_name": f"/videos/{VIDEOS[i % 3]}/{i:06d}.jpg", "width": 1280, "height": 720})
        anns.append({"id": 7000 + i, "image_id": i, "iscrowd": 0, "num_keypoints": 17, "valid_label": 1,
                     "bbox": [400.0, 80.0, 300.0, 560.0], "keypoints": keypoints(17), "foot_kpts": keypoints(6),
                     "lefthand_kpts": keypoints(21), "righthand_kpts": keypoints(21), "face_kpts": keypoints(68),
                     "lefthand_valid": bool(rng.random() < 0.5), "righthand_valid": bool(rng.random() < 0.5),
                     "face_valid": bool(rng.random() < 0.5), "lefthand_box": [500, 300, 40, 40],
                     "righthand_box": [600, 300, 40, 40], "face_box": [550, 100, 60, 60], "category_id": 1,
                     "area": 1.0})
        p = {"root_pose": rng.normal(0, 0.3, 3).tolist(), "body_pose": rng.normal(0, 0.2, 63).tolist(),
             "lhand_pose": rng.normal(0, 0.3, 45).tolist(), "rhand_pose": rng.normal(0, 0.3, 45).tolist(),
             "jaw_pose": rng.normal(0, 0.1, 3).tolist(), "shape": rng.normal(0, 1.6, 10).tolist(),
             "expr": rng.normal(0, 1.0, 10).tolist(), "trans": [0.0, 0.2, 4.0]}
        if i % 400 == 0:  # a fit with its own validity flags: they win over the annotation's
            p.update(lhand_valid=True, rhand_valid=False, face_valid=True)
        smplx[str(7000 + i)] = {"smplx_param": p, "cam_param": {"focal": [1400.0, 1400.0], "princpt": [640.0, 360.0]}}
    (scene / "keypoint_annotation.json").write_text(json.dumps(
        {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    (scene / "smplx_annotation.json").write_text(json.dumps(smplx))
    return [img["file_name"] for img in images]
