"""Small HumanData training files in the published layout (the SMPLer-X preprocessed ``.npz``).

Layout facts (caizhongang/SMPLer-X ``data/humandata.py``, ``HumanDataset.load_data`` / ``decompress_keypoints``):
top-level arrays ``image_path`` (N,), ``bbox_xywh`` / ``{lhand,rhand,face}_bbox_xywh`` (N, 5: x, y, w, h,
confidence), ``keypoints2d_smplx`` (N, K, 3) and ``keypoints3d_smplx`` (N, K, 4) over the 190-point HUMAN_DATA
convention with ``<key>_mask`` (190,); when ``__keypoints_compressed__`` is true only the masked columns are
stored (K = mask.sum()); ``smplx`` / ``meta`` / ``misc`` are dicts saved as 0-d object arrays (pickled).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_HUMAN_DATA_KP = 190


def write_humandata(path: Path, n: int, *, seed: int = 0, hands: bool = True, face: bool = True,
                    smplx: bool = True, compressed: bool = True, crowd_every: int = 0) -> dict:
    """Write a HumanData file of ``n`` rows; returns the arrays written (uncompressed) for checks."""
    rng = np.random.default_rng(seed)
    mask = np.ones(NUM_HUMAN_DATA_KP, np.uint8)
    mask[60:] = 0  # points past the SMPL-X skeleton unlabelled, as in most preprocessed sets
    mask[30] = 0  # one hand point unlabelled inside the skeleton
    kp2d = np.concatenate((rng.uniform(0, 500, (n, NUM_HUMAN_DATA_KP, 2)), np.ones((n, NUM_HUMAN_DATA_KP, 1))), -1)
    kp3d = np.concatenate((rng.normal(0, 0.5, (n, NUM_HUMAN_DATA_KP, 3)), np.ones((n, NUM_HUMAN_DATA_KP, 1))), -1)
    kp2d[:, mask == 0] = 0
    kp3d[:, mask == 0] = 0
    boxes = np.concatenate((rng.uniform(0, 100, (n, 2)), rng.uniform(50, 200, (n, 2)), np.ones((n, 1))), 1)
    part_boxes = {p: np.concatenate((rng.uniform(0, 100, (n, 4)), (rng.random((n, 1)) > 0.3)), 1).astype(np.float32)
                  for p in ("lhand", "rhand", "face")}
    params = {"global_orient": rng.normal(0, 1, (n, 3)), "body_pose": rng.normal(0, 0.3, (n, 21, 3)),
              "betas": rng.normal(0, 1, (n, 10)), "betas_neutral": rng.normal(0, 1, (n, 10)),
              "transl": rng.normal(0, 1, (n, 3))}
    params["betas_neutral"][::7] *= 10  # some implausible shapes (|beta| > 3)
    if hands:
        params["left_hand_pose"] = rng.normal(0, 0.3, (n, 15, 3))
        params["right_hand_pose"] = rng.normal(0, 0.3, (n, 15, 3))
        params["left_hand_pose"][1::5] = 0  # rows without a left-hand label (SMPLest-X: all zero = none)
    if face:
        params["jaw_pose"] = rng.normal(0, 0.1, (n, 3))
        params["expression"] = rng.normal(0, 1, (n, 10))
    meta = {"gender": np.array(["neutral", "female", "male"])[np.arange(n) % 3],
            "height": np.full(n, 1080), "width": np.full(n, 1920)}
    if crowd_every:
        meta["iscrowd"] = (np.arange(n) % crowd_every == 0).astype(np.int64)
    arrays = {"image_path": np.array([f"images/{i:06d}.jpg" for i in range(n)]), "bbox_xywh": boxes,
              **{f"{p}_bbox_xywh": b for p, b in part_boxes.items()},
              "keypoints2d_smplx_mask": mask, "keypoints3d_smplx_mask": mask,
              "__keypoints_compressed__": np.array(compressed), "meta": np.array(meta, dtype=object),
              "misc": np.array({"flat_hand_mean": False}, dtype=object)}
    if smplx:
        arrays["smplx"] = np.array({k: v.astype(np.float32) for k, v in params.items()}, dtype=object)
    keep = np.flatnonzero(mask) if compressed else slice(None)
    arrays["keypoints2d_smplx"] = kp2d[:, keep].astype(np.float32)
    arrays["keypoints3d_smplx"] = kp3d[:, keep].astype(np.float32)
    np.savez(path, **arrays)
    return {"params": params, "kp2d": kp2d, "kp3d": kp3d, "mask": mask, "part_boxes": part_boxes, "meta": meta}
