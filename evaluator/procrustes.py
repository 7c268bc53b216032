"""Batched similarity Procrustes (rotation + uniform scale + translation), "lean" formulation.

Same solution as the reference ``rigid_align``: H = (A - cA)^T (B - cB), U S V^T = svd(H),
R = V U^T with the reflection fix (if det < 0, negate the last singular value and the last row
of V^T), scale = sum(S) / sum|A - cA|^2, t = cB - scale R cA.

The cross-covariance comes from raw moments (sum a b^T - n cA cB^T, batched matmuls over
blocks of points, block sums in float64) and the transform is applied with one ``baddbmm``, so no centred
full-size copies are made; the cost is memory traffic over the points, not the 3x3 SVD.
"""
from __future__ import annotations

import torch
from torch import Tensor


SMALL_SET = 2048  # point sets up to this size are simply promoted to float64
# A source set whose RMS spread around its centroid is below this (metres) is treated as a single
# point: the best similarity then has scale 0 and maps every point onto the target centroid, so a
# collapsed prediction scores the mean distance of the GT points to their centroid (never NaN).
DEGENERATE_SPREAD = 1e-6


def _block_size(n: int) -> int | None:
    """Largest divisor of n in [64, 1024] (10475 SMPL-X vertices -> 419), else None."""
    return next((b for b in range(min(n, 1024), 63, -1) if n % b == 0), None)


def _moments(src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """float64 centroids (B,3) x2, centred cross-covariance sum (B,3,3) and centred sum |a|^2 (B,).

    Small sets are promoted to float64 and centred first, so far-away points (joints in the camera
    frame) lose nothing. Large sets (whole meshes, already given in local coordinates) use raw
    moments: plain float32 accumulation over ~10^4 points moves the optimal rotation by up to
    ~1e-4 mm on nearly isotropic subsets, so products are summed in float32 only within blocks of a
    few hundred points (a free reshape when the block size divides n) and the block sums in
    float64. Sizes without a suitable divisor are zero-padded.
    """
    B, n, _ = src.shape
    if src.dtype == torch.float64 or n <= SMALL_SET:
        src, dst = src.double(), dst.double()
        cs, cd = src.mean(1, keepdim=True), dst.mean(1, keepdim=True)
        src, dst = src - cs, dst - cd
        return cs[:, 0], cd[:, 0], torch.bmm(src.transpose(1, 2), dst), (src * src).sum((1, 2))
    blk = _block_size(n) if src.is_contiguous() and dst.is_contiguous() else None
    if blk is None:  # zero rows leave every moment unchanged; costs one float32 copy
        blk, pad = 256, -n % 256
        src, dst = (torch.nn.functional.pad(x, (0, 0, 0, pad)).contiguous() for x in (src, dst))
    a, b = src.reshape(-1, blk, 3), dst.reshape(-1, blk, 3)
    at = a.transpose(1, 2)
    cross = torch.bmm(at, b).double().reshape(B, -1, 3, 3).sum(1)
    gram = torch.bmm(at, a).double().reshape(B, -1, 3, 3).sum(1)
    mean_src = a.sum(1).double().reshape(B, -1, 3).sum(1) / n
    mean_dst = b.sum(1).double().reshape(B, -1, 3).sum(1) / n
    cross -= n * mean_src[:, :, None] * mean_dst[:, None, :]
    var = gram.diagonal(dim1=1, dim2=2).sum(-1) - n * (mean_src * mean_src).sum(-1)
    return mean_src, mean_dst, cross, var


def similarity_transform(src: Tensor, dst: Tensor) -> tuple[Tensor, Tensor]:
    """Solve for the similarity mapping ``src`` onto ``dst`` (both (B, N, 3)).

    Returns (A, t): A = scale * R as (B, 3, 3) and t as (B, 1, 3), in src's dtype, such that
    the aligned points are ``src @ A^T + t``. A degenerate ``src`` (see DEGENERATE_SPREAD) gets
    scale 0, i.e. every point maps to the centroid of ``dst``.
    """
    n = src.shape[1]
    mean_src, mean_dst, cross, var_src = _moments(src, dst)
    U, S, Vh = torch.linalg.svd(cross)
    flip = torch.linalg.det(Vh.transpose(1, 2) @ U.transpose(1, 2)) < 0
    sign = torch.ones_like(S)
    sign[:, -1] = torch.where(flip, -1.0, 1.0)
    R = (Vh * sign[:, :, None]).transpose(1, 2) @ U.transpose(1, 2)
    degenerate = var_src <= n * DEGENERATE_SPREAD ** 2
    scale = torch.where(degenerate, 0.0, (S * sign).sum(-1) / torch.where(degenerate, 1.0, var_src))
    A = scale[:, None, None] * R
    t = mean_dst - torch.einsum("bij,bj->bi", A, mean_src)
    return A.to(src.dtype), t[:, None, :].to(src.dtype)


def procrustes_align(src: Tensor, dst: Tensor) -> Tensor:
    """``src`` similarity-aligned onto ``dst`` (B, N, 3); one new (B, N, 3) tensor."""
    A, t = similarity_transform(src, dst)
    return torch.baddbmm(t, src, A.transpose(1, 2))


def procrustes_distances(src: Tensor, dst: Tensor) -> Tensor:
    """Per-point distance (B, N) after aligning ``src`` onto ``dst`` (solved on all N points)."""
    aligned = procrustes_align(src, dst.to(src.dtype))
    aligned -= dst.to(src.dtype)
    return torch.linalg.vector_norm(aligned, dim=-1)


def procrustes_error(src: Tensor, dst: Tensor) -> Tensor:
    """Per-sample mean point distance after aligning ``src`` onto ``dst``: (B,), src's units."""
    return procrustes_distances(src, dst).mean(-1)
