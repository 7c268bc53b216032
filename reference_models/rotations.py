"""Rotation conversions (batched, differentiable): 6D ↔ matrix ↔ axis-angle.

The 6D representation is the first two columns of a rotation matrix (Zhou et al. 2019); the matrix is
recovered by Gram-Schmidt. Axis-angle goes through a quaternion so angles near π stay accurate.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def rot6d_to_matrix(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) laid out as a (3, 2) matrix of two column vectors → (..., 3, 3)."""
    cols = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = cols[..., 0], cols[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def matrix_to_rot6d(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) → (..., 6), the inverse layout of :func:`rot6d_to_matrix`."""
    return m[..., :, :2].reshape(*m.shape[:-2], 6)


def axis_angle_to_matrix(aa: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula, (..., 3) → (..., 3, 3); exact at angle 0 via a Taylor fallback."""
    angle_sq = (aa * aa).sum(-1, keepdim=True)
    angle = torch.sqrt(angle_sq.clamp_min(1e-12))
    small = angle_sq < 1e-8
    sin_over = torch.where(small, 1 - angle_sq / 6, torch.sin(angle) / angle)
    one_minus_cos_over = torch.where(small, 0.5 - angle_sq / 24, (1 - torch.cos(angle)) / angle_sq.clamp_min(1e-12))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    skew = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*aa.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(skew)
    return eye + sin_over[..., None] * skew + one_minus_cos_over[..., None] * (skew @ skew)


def matrix_to_quaternion(m: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) → unit quaternion (..., 4) as (w, x, y, z) with w ≥ 0.

    Computes the four candidate solutions and keeps, per matrix, the one with the largest denominator
    (numerically stable for every rotation).
    """
    m00, m01, m02 = m[..., 0, 0], m[..., 0, 1], m[..., 0, 2]
    m10, m11, m12 = m[..., 1, 0], m[..., 1, 1], m[..., 1, 2]
    m20, m21, m22 = m[..., 2, 0], m[..., 2, 1], m[..., 2, 2]
    four_sq = torch.stack(
        (1 + m00 + m11 + m22, 1 + m00 - m11 - m22, 1 - m00 + m11 - m22, 1 - m00 - m11 + m22), dim=-1
    )
    root = torch.sqrt(four_sq.clamp_min(1e-12))  # 2·|q_i| for each candidate's pivot component
    candidates = torch.stack(
        (
            torch.stack((root[..., 0] ** 2, m21 - m12, m02 - m20, m10 - m01), -1),
            torch.stack((m21 - m12, root[..., 1] ** 2, m10 + m01, m02 + m20), -1),
            torch.stack((m02 - m20, m10 + m01, root[..., 2] ** 2, m21 + m12), -1),
            torch.stack((m10 - m01, m20 + m02, m21 + m12, root[..., 3] ** 2), -1),
        ),
        dim=-2,
    ) / (2 * root[..., None])
    best = four_sq.argmax(-1)
    q = torch.gather(candidates, -2, best[..., None, None].expand(*best.shape, 1, 4)).squeeze(-2)
    q = F.normalize(q, dim=-1)
    return torch.where(q[..., :1] < 0, -q, q)


def quaternion_to_axis_angle(q: torch.Tensor) -> torch.Tensor:
    """(w, x, y, z) → axis-angle (..., 3) with angle in [0, π]."""
    xyz = q[..., 1:]
    sin_half = xyz.norm(dim=-1, keepdim=True)
    half = torch.atan2(sin_half, q[..., :1])
    # angle/sin(half) → 2 as the rotation vanishes
    scale = torch.where(sin_half < 1e-6, 2 / q[..., :1].clamp_min(1e-6), 2 * half / sin_half.clamp_min(1e-12))
    return xyz * scale


def matrix_to_axis_angle(m: torch.Tensor) -> torch.Tensor:
    return quaternion_to_axis_angle(matrix_to_quaternion(m))


def rot6d_to_axis_angle(x: torch.Tensor) -> torch.Tensor:
    """(..., 6) → (..., 3): the conversion both reference models apply to every rotation output."""
    return matrix_to_axis_angle(rot6d_to_matrix(x))
