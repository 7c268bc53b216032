"""A simple person detector for whole images: background subtraction + connected components (batched torch).

Not learned, and honest about it. It suits images whose background is a smooth vertical gradient
(the demo's rendered multi-person benchmark, evaluator.multiperson_images), and nothing else:

1. Background: per row, the median colour of the `BORDER` leftmost and rightmost columns, then a
   straight line over the rows fitted by least squares and refitted on the rows it explains (people
   reaching the border are outliers).
2. Foreground: pixels more than `THRESHOLD` (0-255) from the background in some channel; a closing of
   radius `CLOSE_RADIUS` fills the gaps between point splats.
3. An opening of radius `CUT_RADIUS` cuts the thin parts (arms, hands) that join people standing side by
   side; what remains is labelled 8-connected (`label_components`: batched torch, no SciPy).
4. Each component of at least `MIN_AREA` of the image is a person: its box (arms cut off, so mostly
   the torso, head and legs) and a score, the share of the box the component fills.

People whose bodies overlap (not just their arms) stay one component: one detection, the rest missed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

BORDER = 4
THRESHOLD = 20.0
CLOSE_RADIUS = 2
CUT_RADIUS = 2
MIN_AREA = 0.002
INLIER_PX = 8.0


@dataclass(frozen=True)
class Detection:
    box_xywh: tuple[float, float, float, float]  # image pixels
    score: float


def background(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) float images -> (B, H, 3) background colour per row."""
    b, h, w, _ = images.shape
    border = torch.cat([images[:, :, :BORDER], images[:, :, w - BORDER:]], dim=2)
    rows = border.median(dim=2).values  # (B, H, 3)
    t = torch.linspace(0, 1, h, dtype=images.dtype, device=images.device)
    design = torch.stack([torch.ones_like(t), t], 1)  # (H, 2)
    weights = torch.ones(b, h, 1, dtype=images.dtype, device=images.device)
    for _ in range(2):  # fit, then refit on the rows the first line explains
        wd = design[None] * weights
        coef = torch.linalg.lstsq(wd, rows * weights).solution  # (B, 2, 3)
        fit = design[None] @ coef
        weights = ((rows - fit).abs().amax(-1, keepdim=True) < INLIER_PX).to(images.dtype)
        weights = torch.where(weights.sum(1, keepdim=True) >= 2, weights, torch.ones_like(weights))
    return fit


def _max3(x: torch.Tensor) -> torch.Tensor:
    """3x3 maximum of non-negative (B, 1, H, W) values, zero outside: separable shifts (CPU max_pool2d with
    stride 1 is ~20x slower)."""
    p = F.pad(x, (1, 1, 1, 1))
    rows = torch.maximum(torch.maximum(p[..., :-2, :], p[..., 1:-1, :]), p[..., 2:, :])
    return torch.maximum(torch.maximum(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])


def _dilate(mask: torch.Tensor, radius: int) -> torch.Tensor:
    for _ in range(radius):  # r 3x3 steps make the (2r+1)-square
        mask = _max3(mask)
    return mask


def _erode(mask: torch.Tensor, radius: int) -> torch.Tensor:
    return 1 - _dilate(1 - mask, radius)


def foreground(images: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) float 0-255 -> (B, 1, H, W) float mask after the closing and the opening."""
    diff = (images - background(images)[:, :, None]).abs().amax(-1)
    mask = (diff > THRESHOLD).to(images.dtype)[:, None]
    mask = _erode(_dilate(mask, CLOSE_RADIUS), CLOSE_RADIUS)
    return _dilate(_erode(mask, CUT_RADIUS), CUT_RADIUS)


def label_components(mask: torch.Tensor, check_every: int = 8) -> torch.Tensor:
    """(B, 1, H, W) 0/1 (fewer than 2**24 pixels) -> (B, H, W) int64 labels (0 = background; a component's label
    is its largest flat pixel index + 1), 8-connected.

    Each step spreads the largest label to the 8 neighbours (max-pooling inside the mask), then lets every pixel
    take the label of the pixel its label names (pointer jumping: that pixel is in the same component and has
    spread further), so long thin components converge in far fewer steps than their length."""
    b, _, h, w = mask.shape
    # float32 holds every index exactly below 2**24 pixels
    index = torch.arange(1, h * w + 1, dtype=torch.float32, device=mask.device).reshape(1, 1, h, w)
    mask = mask.float()
    flat_mask = mask.reshape(b, -1)
    labels = index * mask
    while True:
        before = labels
        for _ in range(check_every):
            flat = (_max3(labels) * mask).reshape(b, -1)
            jumped = torch.gather(flat, 1, (flat.long() - 1).clamp_min(0)) * flat_mask
            labels = torch.maximum(flat, jumped).reshape(b, 1, h, w)
        if torch.equal(labels, before):
            return labels[:, 0].long()


def detect(images: np.ndarray | torch.Tensor) -> list[list[Detection]]:
    """People in a batch of same-sized RGB images (B, H, W, 3) uint8; per image, detections left to right."""
    pixels = torch.tensor(np.asarray(images), dtype=torch.float32)
    b, h, w, _ = pixels.shape
    labels = label_components(foreground(pixels))
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    out: list[list[Detection]] = []
    for i in range(b):
        flat = labels[i].reshape(-1)
        ids, inverse, area = torch.unique(flat, return_inverse=True, return_counts=True)
        n = len(ids)
        lo_x = torch.full((n,), w, dtype=torch.long).scatter_reduce(0, inverse, xs.reshape(-1), "amin")
        hi_x = torch.full((n,), -1, dtype=torch.long).scatter_reduce(0, inverse, xs.reshape(-1), "amax")
        lo_y = torch.full((n,), h, dtype=torch.long).scatter_reduce(0, inverse, ys.reshape(-1), "amin")
        hi_y = torch.full((n,), -1, dtype=torch.long).scatter_reduce(0, inverse, ys.reshape(-1), "amax")
        found = []
        for k in range(n):
            if ids[k] == 0 or area[k] < MIN_AREA * h * w:
                continue
            x0, y0, x1, y1 = int(lo_x[k]), int(lo_y[k]), int(hi_x[k]) + 1, int(hi_y[k]) + 1
            box = (float(x0), float(y0), float(x1 - x0), float(y1 - y0))
            found.append(Detection(box, float(area[k]) / ((x1 - x0) * (y1 - y0))))
        out.append(sorted(found, key=lambda d: d.box_xywh[0]))
    return out
