"""Box → crop affine (aspect 3:4, ×ratio), image warping to 512×384 then 2× down to 256×192.

The official pipelines warp the box to 512×384 (``input_img_shape``) and the model shrinks it to
256×192 with ``F.interpolate``'s default nearest-neighbour mode, i.e. every other pixel: that is
``downsample="nearest"`` (the default here). ``"box"`` averages 2×2 blocks instead (less aliasing).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from ..vit import INPUT_SHAPE

CROP_SHAPE = (INPUT_SHAPE[0] * 2, INPUT_SHAPE[1] * 2)  # (512, 384) (H, W), warped first
ASPECT = INPUT_SHAPE[1] / INPUT_SHAPE[0]  # w / h = 3 / 4
BOX_ENLARGE = 1.25
DOWNSAMPLE_MODES = ("nearest", "box")


def crop_box(bbox_xywh: np.ndarray, enlarge: float = BOX_ENLARGE) -> tuple[float, float, float, float]:
    """Person box → (cx, cy, w, h) with aspect w/h = 3/4 (grown, never shrunk) times ``enlarge``."""
    x, y, w, h = (float(v) for v in bbox_xywh[:4])
    if w <= 0 or h <= 0:
        raise ValueError(f"degenerate box {bbox_xywh[:4].tolist()}")
    cx, cy = x + w / 2, y + h / 2
    if w > ASPECT * h:
        h = w / ASPECT
    else:
        w = h * ASPECT
    return cx, cy, w * enlarge, h * enlarge


def crop_affine(box: tuple[float, float, float, float], scale: float = 1.0, rot_deg: float = 0.0,
                flip: bool = False) -> np.ndarray:
    """3×3 matrix mapping original-image pixels to 256×192 body-input pixels.

    ``scale`` > 1 zooms out (bigger crop); ``rot_deg`` rotates the content about the crop centre
    (the same 2D rotation is applied about the camera z axis to the 3D targets); ``flip`` mirrors x.
    """
    cx, cy, bw, _ = box
    out_h, out_w = INPUT_SHAPE
    s = out_w / (bw * scale)
    t = math.radians(rot_deg)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    m = np.eye(3)
    m[:2, :2] = s * rot
    m[:2, 2] = -m[:2, :2] @ np.array([cx, cy]) + np.array([out_w / 2, out_h / 2])
    if flip:
        m = np.array([[-1.0, 0, out_w], [0, 1, 0], [0, 0, 1]]) @ m
    return m


def in_plane_rotation(rot_deg: float) -> np.ndarray:
    """3D rotation about the camera z axis matching :func:`crop_affine`'s image rotation."""
    t = math.radians(rot_deg)
    return np.array([[math.cos(t), -math.sin(t), 0], [math.sin(t), math.cos(t), 0], [0, 0, 1]])


def warp_image(img: Image.Image, affine: np.ndarray, downsample: str = "nearest") -> np.ndarray:
    """Warp to 512×384 with ``affine`` (scaled ×2), then down to 256×192; float32 (3,H,W) in [0, 1]."""
    if downsample not in DOWNSAMPLE_MODES:
        raise ValueError(f"downsample must be one of {DOWNSAMPLE_MODES}, got {downsample!r}")
    up = np.diag([2.0, 2.0, 1.0]) @ affine
    inv = np.linalg.inv(up)
    warped = img.convert("RGB").transform(
        (CROP_SHAPE[1], CROP_SHAPE[0]), Image.Transform.AFFINE, data=tuple(inv[:2].ravel()), resample=Image.Resampling.BILINEAR
    )
    small = warped.reduce(2) if downsample == "box" else np.asarray(warped)[::2, ::2]
    arr = np.asarray(small, dtype=np.float32) / 255.0
    return np.ascontiguousarray(arr.transpose(2, 0, 1))


def transform_points(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(N, 2) image pixels → (N, 2) body-input pixels."""
    return points @ affine[:2, :2].T + affine[:2, 2]
