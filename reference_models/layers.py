"""Building blocks shared by the two models: conv stacks, soft-argmax, RoI-align, camera depth."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .vit import FEATURE_SHAPE as HM_SHAPE, INPUT_SHAPE

FOCAL = (5000.0, 5000.0)  # virtual camera of the 256×192 body input
PRINCIPAL_POINT = (INPUT_SHAPE[1] / 2, INPUT_SHAPE[0] / 2)  # (96, 128)
# t_z = k·sigmoid(γ): k makes a 2.5 m-tall person span the input at γ = 0-ish scale (spec §3)
CAM_DEPTH_SCALE = math.sqrt(FOCAL[0] * FOCAL[1] * 2.5**2 / (INPUT_SHAPE[0] * INPUT_SHAPE[1]))


def conv_stack(dims: list[int], kernel: int = 1, final_bn_relu: bool = True) -> nn.Sequential:
    """Conv(+BN+ReLU) chain; the last conv stays linear unless ``final_bn_relu``."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        last = i == len(dims) - 2
        layers.append(nn.Conv2d(cin, cout, kernel, padding=kernel // 2))
        if not last or final_bn_relu:
            layers += [nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def deconv_stack(dims: list[int]) -> nn.Sequential:
    """×2 upsampling transposed convs (kernel 4), each followed by BN+ReLU."""
    layers: list[nn.Module] = []
    for cin, cout in zip(dims[:-1], dims[1:]):
        layers += [nn.ConvTranspose2d(cin, cout, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def mlp(dims: list[int]) -> nn.Sequential:
    """Linear(+ReLU) chain with a linear output."""
    layers: list[nn.Module] = []
    for i, (cin, cout) in enumerate(zip(dims[:-1], dims[1:])):
        layers.append(nn.Linear(cin, cout))
        if i < len(dims) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def _at_least_float32(t: torch.Tensor) -> torch.dtype:
    """float32 for half-precision heat-maps (autocast), the tensor's own dtype for float32/float64."""
    return torch.promote_types(t.dtype, torch.float32)


def soft_argmax_3d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, D, H, W) logits → expected (x, y, z) per joint in heat-map voxel units."""
    b, j, d, h, w = heatmaps.shape
    prob = heatmaps.reshape(b, j, -1).to(_at_least_float32(heatmaps)).softmax(-1).reshape(b, j, d, h, w)
    grid = lambda n: torch.arange(n, dtype=prob.dtype, device=prob.device)  # noqa: E731
    x = (prob.sum((2, 3)) * grid(w)).sum(-1)
    y = (prob.sum((2, 4)) * grid(h)).sum(-1)
    z = (prob.sum((3, 4)) * grid(d)).sum(-1)
    return torch.stack((x, y, z), dim=-1)


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits → expected (x, y) per map in pixel units of the map."""
    b, j, h, w = heatmaps.shape
    prob = heatmaps.reshape(b, j, -1).to(_at_least_float32(heatmaps)).softmax(-1).reshape(b, j, h, w)
    x = (prob.sum(2) * torch.arange(w, dtype=prob.dtype, device=prob.device)).sum(-1)
    y = (prob.sum(3) * torch.arange(h, dtype=prob.dtype, device=prob.device)).sum(-1)
    return torch.stack((x, y), dim=-1)


def sample_features(fmap: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear features at (x, y) points given in feature-map pixel units: (B,C,H,W),(B,J,2) → (B,J,C)."""
    h, w = fmap.shape[-2:]
    norm = torch.stack((points[..., 0] / max(w - 1, 1), points[..., 1] / max(h - 1, 1)), -1) * 2 - 1
    out = F.grid_sample(fmap, norm[:, :, None].to(fmap.dtype), align_corners=True)  # (B, C, J, 1)
    return out[..., 0].transpose(1, 2)


def _bilinear_axis_weights(coords: torch.Tensor, size: int) -> torch.Tensor:
    """mmcv's ``bilinear_interpolate`` along one axis, as weights: (...,) sample coords → (..., size).

    Samples beyond [-1, size] read 0; coordinates below 0 are clamped to 0 and those past the last
    pixel centre to it. Bilinear interpolation and this validity test both factor per axis.
    """
    valid = (coords >= -1.0) & (coords <= size)
    c = coords.clamp_min(0.0)
    low = c.floor().clamp_max(size - 1)
    at_edge = low >= size - 1
    c = torch.where(at_edge, low, c)
    high = torch.where(at_edge, low, low + 1)
    frac = c - low
    weights = (1 - frac)[..., None] * F.one_hot(low.long(), size).to(c.dtype)
    weights = weights + frac[..., None] * F.one_hot(high.long(), size).to(c.dtype)
    return weights * valid[..., None].to(c.dtype)


def _roi_axis_weights(start: torch.Tensor, length: torch.Tensor, bins: int, size: int) -> torch.Tensor:
    """Per-box averaging weights over one axis: (B,) box start/length in pixels → (B, bins, size).

    Each bin averages ``ceil(length / bins)`` evenly spaced samples (mmcv's adaptive sampling ratio).
    """
    length = length.clamp_min(1.0)  # aligned=False: boxes shorter than a pixel are grown to one
    bin_len = length / bins
    grid = torch.ceil(bin_len).clamp_min(1)
    steps = torch.arange(int(grid.max().item()), device=start.device, dtype=start.dtype)
    used = steps[None] < grid[:, None]  # (B, G): boxes with fewer samples ignore the tail
    pos = (torch.arange(bins, device=start.device, dtype=start.dtype)[None, :, None]
           + (steps[None, None] + 0.5) / grid[:, None, None])  # (B, bins, G) in bin units
    coords = start[:, None, None] + pos * bin_len[:, None, None]
    weights = _bilinear_axis_weights(coords, size) * used[:, None, :, None].to(start.dtype)
    return weights.sum(2) / grid[:, None, None]


def roi_align(fmap: torch.Tensor, boxes: torch.Tensor, output_size: tuple[int, int],
              spatial_scale: float = 1.0) -> torch.Tensor:
    """RoI-align with the semantics of ``mmcv.ops.roi_align(..., sampling_ratio=0, 'avg', aligned=False)``.

    fmap (B, C, H, W); boxes (B, 4) as (x1, y1, x2, y2), one box per image, scaled by ``spatial_scale``
    into feature-map pixels (pixel i centred at i); returns (B, C, oh, ow). Sampling and bilinear
    weights separate into a row and a column matrix per box, so the whole batch is two einsums.
    """
    _, _, h, w = fmap.shape
    oh, ow = output_size
    # sample positions in at least float32 (half precision would shift them by up to a pixel)
    x1, y1, x2, y2 = (boxes.to(_at_least_float32(fmap)) * spatial_scale).unbind(-1)
    rows = _roi_axis_weights(y1, y2 - y1, oh, h).to(fmap.dtype)  # (B, oh, H)
    cols = _roi_axis_weights(x1, x2 - x1, ow, w).to(fmap.dtype)  # (B, ow, W)
    return torch.einsum("bph,bchw,bqw->bcpq", rows, fmap, cols)


def restore_bbox(center: torch.Tensor, size: torch.Tensor, aspect_ratio: float, extension: float) -> torch.Tensor:
    """Box centre/size in body heat-map cells (B, 2) → (B, 4) xyxy in body-input pixels.

    The box is grown (never shrunk) to ``aspect_ratio`` (w/h) and scaled by ``extension`` about its centre;
    sizes keep their sign, like the official ``restore_bbox``.
    """
    cell = center.new_tensor([INPUT_SHAPE[1] / HM_SHAPE[1], INPUT_SHAPE[0] / HM_SHAPE[0]])
    c = center * cell
    wh = size * cell
    w, h = wh.unbind(-1)
    h = torch.where(w > aspect_ratio * h, w / aspect_ratio, h)
    w = torch.where(w < aspect_ratio * h, h * aspect_ratio, w)
    half = torch.stack((w, h), -1) * extension / 2
    return torch.cat((c - half, c + half), -1)


def camera_translation(cam_param: torch.Tensor) -> torch.Tensor:
    """(B, 3) raw (t_x, t_y, γ) → translation with t_z = k·sigmoid(γ)."""
    return torch.cat((cam_param[:, :2], CAM_DEPTH_SCALE * torch.sigmoid(cam_param[:, 2:3])), dim=1)


def project_points(points: torch.Tensor) -> torch.Tensor:
    """Camera-frame 3D points (..., 3) → 2D pixels of the 256×192 body input (virtual camera)."""
    z = points[..., 2:3].clamp_min(1e-3)
    xy = points[..., :2] / z
    return xy * xy.new_tensor(FOCAL) + xy.new_tensor(PRINCIPAL_POINT)
