"""Batched whole-body metrics (mm), following the SMPLer-X / SMPLest-X generic evaluator.

See docs/metrics.md. ``compute_metrics`` returns per-sample values (float64, NaN = no value for
that sample); ``MetricSums`` (evaluator.metric_sums) accumulates them so that any sharding of a
benchmark gives bit-identical means. Precision: every quantity is formed from per-mesh local
float32 coordinates plus float64 origins (evaluator.meshes), so the result does not depend on
how far the meshes are from the camera or from each other.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from .meshes import Meshes, from_vertices
from .metric_names import (  # noqa: F401  (re-exported)
    ALL_METRIC_LABELS, ALL_METRICS, EXTRA_METRICS, METRIC_LABELS, METRICS, MetricLabel,
)
from .parts import (
    J14_ROWS, LHAND_ROWS, RHAND_ROWS, ROW_LWRIST, ROW_NECK, ROW_PELVIS, ROW_RWRIST, MetricAssets,
)
from .procrustes import point_distances, procrustes_distances, procrustes_distances_points, take_points
from .metric_sums import QUANTUM, MetricSums, quantize  # noqa: F401  (re-exported)

M_TO_MM = 1000.0


class PointMasks(NamedTuple):
    """Which GT points count, per sample (UBody: GT projection inside the image). Procrustes is
    still solved on every point of a set (as the reference does); only the averages are masked."""

    vertices: Tensor  # (B, V) bool
    j14: Tensor  # (B, 14) bool
    lhand: Tensor  # (B, 21) bool, hand-regressor joints
    rhand: Tensor  # (B, 21) bool


def masked_mean(dist: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over the last axis in float64; over ``mask`` only, NaN where the mask is empty."""
    dist = dist.double()
    if mask is None:
        return dist.mean(-1)
    m = mask.to(dist.dtype)
    n = m.sum(-1)
    return torch.where(n > 0, (dist * m).sum(-1) / n.clamp_min(1.0), torch.nan)


def _norm(diff: Tensor) -> Tensor:
    return torch.linalg.vector_norm(diff, dim=-1)


def coordinate_major(meshes: Meshes) -> Tensor:
    """(B, 3, V) contiguous local coordinates: free when ``local`` is already a transposed view of
    such storage (the lean forward and the GT mesh cache produce that), one copy otherwise."""
    return meshes.local.transpose(1, 2).contiguous()


def hand_mean(left: Tensor, right: Tensor, weights: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """Per-sample hand average. Without weights: (l + r) / 2, or the one hand that has a value
    (NaN = no value, UBody). With 0/1 validity weights (SMPLest-X): the weighted mean of the
    valid hands; NaN (no value) when neither hand is valid."""
    if weights is None:
        wl, wr = (~left.isnan()).double(), (~right.isnan()).double()
    else:
        wl = weights[0].double() * (~left.isnan())
        wr = weights[1].double() * (~right.isnan())
    total = wl + wr
    num = torch.nan_to_num(left) * wl + torch.nan_to_num(right) * wr
    return torch.where(total > 0, num / total.clamp_min(1e-12), torch.nan)


def compute_metrics(pred: Meshes | Tensor, gt: Meshes | Tensor, assets: MetricAssets, inplace: bool = False,
                    masks: PointMasks | None = None, hand_joints: int = 21,
                    hand_mpjpe: bool = False) -> dict[str, Tensor]:
    """Per-sample metrics in mm (float64 (B,) tensors, NaN = masked out) for SMPL-X meshes.

    ``pred``/``gt`` are Meshes (or absolute (B, V, 3) tensors in metres, split here). Keys:
    METRICS, plus the per-hand ``mpjpe_*_hand`` when ``hand_mpjpe``. ``hand_joints`` is 21
    (SMPLer-X: wrist included in hand PA-MPJPE) or 20 (SMPLest-X: wrist dropped). With
    ``inplace=True`` the local coordinates may be overwritten.
    """
    if isinstance(pred, Tensor):
        pred = from_vertices(pred, assets.anchor_vertex, pred.device, pred.dtype)
    if isinstance(gt, Tensor):
        gt = from_vertices(gt, assets.anchor_vertex, gt.device, gt.dtype)
    if pred.local.shape != gt.local.shape or pred.local.dim() != 3 or pred.local.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (B, V, 3), got {tuple(pred.local.shape)} and {tuple(gt.local.shape)}")
    if hand_joints not in (20, 21):
        raise ValueError("hand_joints must be 21 (SMPLer-X) or 20 (SMPLest-X)")
    # Per-vertex work runs coordinate-major (B, 3, V): elementwise along contiguous rows of V values
    # (see evaluator.procrustes). Only the 60 regressed joints stay point-major.
    P, G = coordinate_major(pred), coordinate_major(gt)
    jp_local, jg_local = assets.regress_coords(P), assets.regress_coords(G)  # (B, 60, 3) float32
    s = assets.row_sums[None, :, None]
    jp = jp_local.double() + s * pred.origin  # absolute joints, float64
    jg = jg_local.double() + s * gt.origin
    delta = pred.origin - gt.origin

    def offset(row: int) -> Tensor:
        """(M_i - JM_row) - (G_i - JG_row) = (local_i^M - local_i^G) + offset(row), offset small; (B, 3, 1)."""
        return (delta - (jp[:, row: row + 1] - jg[:, row: row + 1])).to(P.dtype).transpose(1, 2)

    def joint(local: Tensor, row: int) -> Tensor:
        return local[:, row: row + 1].transpose(1, 2)  # (B, 3, 1)

    vmask = masks.vertices if masks is not None else None
    diff = P - G
    out: dict[str, Tensor] = {}

    def part(ids: Tensor, row: int) -> tuple[Tensor, Tensor]:
        p, g = take_points(P, ids), take_points(G, ids)
        d = torch.sub(p, g).add_(offset(row))  # the same bits as gathering diff, one gather fewer
        # each subset shifted by its own joint: PA is translation invariant, float32 precision is not
        p.sub_(joint(jp_local, row))
        g.sub_(joint(jg_local, row))
        m = None if vmask is None else torch.index_select(vmask, 1, ids)
        return masked_mean(point_distances(d), m), masked_mean(procrustes_distances(p, g), m)

    out["mpvpe_l_hand"], out["pa_mpvpe_l_hand"] = part(assets.left_hand, ROW_LWRIST)
    out["mpvpe_r_hand"], out["pa_mpvpe_r_hand"] = part(assets.right_hand, ROW_RWRIST)
    out["mpvpe_face"], out["pa_mpvpe_face"] = part(assets.face, ROW_NECK)
    out["mpvpe_all"] = masked_mean(point_distances(diff.add_(offset(ROW_PELVIS))), vmask)
    del diff
    out["pa_mpvpe_all"] = masked_mean(procrustes_distances(P, G), vmask)

    jmask = masks.j14 if masks is not None else None
    s14 = assets.row_sums[J14_ROWS][None, :, None]
    # J14 of the pelvis-aligned mesh: J14 (M - c) = J14 M - s14 c, c = JM_pelvis - JG_pelvis
    aligned = jp[:, J14_ROWS] - s14 * (jp[:, ROW_PELVIS: ROW_PELVIS + 1] - jg[:, ROW_PELVIS: ROW_PELVIS + 1])
    out["mpjpe_body"] = masked_mean(_norm(aligned - jg[:, J14_ROWS]), jmask)
    out["pa_mpjpe_body"] = masked_mean(procrustes_distances_points(jp[:, J14_ROWS], jg[:, J14_ROWS]), jmask)
    first = 21 - hand_joints  # 1 drops the wrist row
    for side, rows, wrist in (("l", LHAND_ROWS, ROW_LWRIST), ("r", RHAND_ROWS, ROW_RWRIST)):
        idx = torch.arange(rows.start + first, rows.stop, device=jp.device)
        hm = None if masks is None else (masks.lhand if side == "l" else masks.rhand)[:, first:]
        hp, hg = jp.index_select(1, idx), jg.index_select(1, idx)
        out[f"pa_mpjpe_{side}_hand"] = masked_mean(procrustes_distances_points(hp, hg), hm)
        if hand_mpjpe:  # wrist-relative on both sides (see docs/metrics.md for SMPLest-X's variant)
            rel = (hp - jp[:, wrist: wrist + 1]) - (hg - jg[:, wrist: wrist + 1])
            out[f"mpjpe_{side}_hand"] = masked_mean(_norm(rel), hm)
    prefixes = ("mpvpe", "pa_mpvpe", "pa_mpjpe") + (("mpjpe",) if hand_mpjpe else ())
    for prefix in prefixes:
        out[f"{prefix}_hand"] = hand_mean(out[f"{prefix}_l_hand"], out[f"{prefix}_r_hand"])
    keys = METRICS + (EXTRA_METRICS if hand_mpjpe else ())
    return {k: out[k] * M_TO_MM for k in keys}
