"""torch Dataset producing 256×192 crops with (optionally augmented) targets."""
from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..smplx_layout import PARAM_SHAPES
from .augment import AugmentConfig, Augmentation, flip_keypoints, flip_smplx_params, sample_augmentation
from .crop import crop_affine, crop_box, in_plane_rotation, transform_points, warp_image
from .sources import BOX_PARTS, NUM_KP, PART_NAMES, SMPLX_PARAM_KEYS, DataError, Record


class CropDataset(Dataset):
    """Items: ``img`` (3,256,192) float in [0,1], ``sample_id``, and when labels exist ``has_smplx``,
    SMPL-X params (zeros where unlabelled), ``parts`` (len(PART_NAMES),) label validity, ``keypoints2d`` (55,3)
    in body-input pixels (confidence 0 where unknown), ``part_boxes`` (3, 4) xyxy body-input pixels with
    ``part_boxes_valid`` (3,) for lhand/rhand/face."""

    def __init__(self, records: list[Record], augment: AugmentConfig | None = None, seed: int = 0,
                 downsample: str = "nearest", box_ratio: float | None = None):
        """``box_ratio`` replaces every record's own box enlargement when given (inference presets)."""
        self.records, self.augment, self.seed = records, augment, seed
        self.downsample, self.box_ratio = downsample, box_ratio
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.records)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        rec = self.records[index]
        aug = Augmentation()
        if self.augment is not None:
            aug = sample_augmentation(self.augment, np.random.default_rng((self.seed, self.epoch, index)))
        try:
            img = Image.open(rec.image_path)
        except OSError as exc:
            raise DataError(f"sample {rec.sample_id!r}: cannot open image {rec.image_path} ({exc})") from exc
        ratio = self.box_ratio if self.box_ratio is not None else rec.box_enlarge
        affine = crop_affine(crop_box(rec.bbox_xywh, ratio), aug.scale, aug.rot_deg, aug.flip)
        pixels = warp_image(img, affine, self.downsample) * np.asarray(aug.colour, np.float32)[:, None, None]
        item = {"img": torch.from_numpy(np.clip(pixels, 0, 1)), "sample_id": rec.sample_id}
        if rec.params is None and rec.keypoints2d is None:
            return item
        params = {k: (np.zeros(PARAM_SHAPES[k], np.float32) if rec.params is None else rec.params[k].astype(np.float32))
                  for k in SMPLX_PARAM_KEYS}
        parts = dict(rec.parts)
        boxes = {p: _box_corners(b, affine) for p, b in (rec.part_boxes or {}).items()}
        kp = np.zeros((NUM_KP, 3), np.float32) if rec.keypoints2d is None else rec.keypoints2d.astype(np.float32).copy()
        kp[:, :2] = transform_points(affine, kp[:, :2])
        if aug.rot_deg:
            root = axis_angle_to_matrix(torch.from_numpy(params["global_orient"]))
            rot = torch.from_numpy(in_plane_rotation(aug.rot_deg).astype(np.float32))
            params["global_orient"] = matrix_to_axis_angle(rot @ root).numpy()
        if aug.flip:
            params = flip_smplx_params(params)
            kp = flip_keypoints(kp)
            parts["lhand"], parts["rhand"] = parts["rhand"], parts["lhand"]
            boxes = {_FLIPPED.get(p, p): b for p, b in boxes.items()}  # the affine mirrored x already
        item.update({k: torch.from_numpy(np.ascontiguousarray(v.reshape(PARAM_SHAPES[k]))) for k, v in params.items()})
        item["keypoints2d"] = torch.from_numpy(kp)
        item["has_smplx"] = torch.tensor(parts["smplx"])
        item["parts"] = torch.tensor([parts[p] for p in PART_NAMES], dtype=torch.float32)
        item["part_boxes"] = torch.from_numpy(np.stack([boxes.get(p, np.zeros(4, np.float32)) for p in BOX_PARTS]))
        item["part_boxes_valid"] = torch.tensor([float(p in boxes) for p in BOX_PARTS])
        return item


_FLIPPED = {"lhand": "rhand", "rhand": "lhand"}


def _box_corners(box_xyxy: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """An image-pixel xyxy box through the crop affine: the axis-aligned box around its four corners."""
    x0, y0, x1, y1 = box_xyxy
    pts = transform_points(affine, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64))
    return np.concatenate((pts.min(0), pts.max(0))).astype(np.float32)

