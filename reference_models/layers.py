"""Building blocks shared by the two models: conv stacks, soft-argmax, RoI-align, camera depth."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .vit import INPUT_SHAPE

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


def soft_argmax_3d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, D, H, W) logits → expected (x, y, z) per joint in heat-map voxel units."""
    b, j, d, h, w = heatmaps.shape
    prob = heatmaps.reshape(b, j, -1).float().softmax(-1).reshape(b, j, d, h, w)
    grid = lambda n: torch.arange(n, dtype=prob.dtype, device=prob.device)  # noqa: E731
    x = (prob.sum((2, 3)) * grid(w)).sum(-1)
    y = (prob.sum((2, 4)) * grid(h)).sum(-1)
    z = (prob.sum((3, 4)) * grid(d)).sum(-1)
    return torch.stack((x, y, z), dim=-1)


def soft_argmax_2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits → expected (x, y) per map in pixel units of the map."""
    b, j, h, w = heatmaps.shape
    prob = heatmaps.reshape(b, j, -1).float().softmax(-1).reshape(b, j, h, w)
    x = (prob.sum(2) * torch.arange(w, dtype=prob.dtype, device=prob.device)).sum(-1)
    y = (prob.sum(3) * torch.arange(h, dtype=prob.dtype, device=prob.device)).sum(-1)
    return torch.stack((x, y), dim=-1)


def sample_features(fmap: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Bilinear features at (x, y) points given in feature-map pixel units: (B,C,H,W),(B,J,2) → (B,J,C)."""
    h, w = fmap.shape[-2:]
    norm = torch.stack((points[..., 0] / max(w - 1, 1), points[..., 1] / max(h - 1, 1)), -1) * 2 - 1
    out = F.grid_sample(fmap, norm[:, :, None].to(fmap.dtype), align_corners=True)  # (B, C, J, 1)
    return out[..., 0].transpose(1, 2)


def roi_align(fmap: torch.Tensor, boxes: torch.Tensor, output_size: tuple[int, int], spatial_scale: float,
              sampling_ratio: int = 2) -> torch.Tensor:
    """RoI-align with ``grid_sample`` (torchvision-free).

    fmap (B, C, H, W); boxes (B, 4) as (x1, y1, x2, y2) in input-image pixels, one box per image;
    returns (B, C, oh, ow). Each output bin averages ``sampling_ratio²`` bilinear samples, like
    torchvision's ``roi_align(aligned=True)``.
    """
    b, _, h, w = fmap.shape
    oh, ow = output_size
    s = sampling_ratio
    x1, y1, x2, y2 = (boxes * spatial_scale).unbind(-1)
    # sample centres inside each bin, in feature-map continuous coords (pixel centres at i + 0.5)
    ty = (torch.arange(oh * s, device=fmap.device, dtype=boxes.dtype) + 0.5) / (oh * s)
    tx = (torch.arange(ow * s, device=fmap.device, dtype=boxes.dtype) + 0.5) / (ow * s)
    ys = y1[:, None] + (y2 - y1)[:, None] * ty  # (B, oh*s)
    xs = x1[:, None] + (x2 - x1)[:, None] * tx
    gy = (ys / h) * 2 - 1  # align_corners=False convention: pixel i spans [i, i+1]
    gx = (xs / w) * 2 - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), dim=-1)  # (B, oh*s, ow*s, 2)
    sampled = F.grid_sample(fmap, grid.to(fmap.dtype), mode="bilinear", padding_mode="zeros", align_corners=False)
    return F.avg_pool2d(sampled, kernel_size=s) if s > 1 else sampled


def camera_translation(cam_param: torch.Tensor) -> torch.Tensor:
    """(B, 3) raw (t_x, t_y, γ) → translation with t_z = k·sigmoid(γ)."""
    return torch.cat((cam_param[:, :2], CAM_DEPTH_SCALE * torch.sigmoid(cam_param[:, 2:3])), dim=1)


def project_points(points: torch.Tensor) -> torch.Tensor:
    """Camera-frame 3D points (..., 3) → 2D pixels of the 256×192 body input (virtual camera)."""
    z = points[..., 2:3].clamp_min(1e-3)
    xy = points[..., :2] / z
    return xy * xy.new_tensor(FOCAL) + xy.new_tensor(PRINCIPAL_POINT)
