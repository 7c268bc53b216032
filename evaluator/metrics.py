"""Batched whole-body metrics (mm), following the SMPLer-X / SMPLest-X generic evaluator.

See docs/metrics.md. ``compute_metrics`` returns per-sample values; ``MetricSums`` accumulates
them (see evaluator.metric_sums) so that any sharding of a benchmark gives bit-identical means.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .parts import (
    J14_ROWS, LHAND_ROWS, RHAND_ROWS, ROW_LWRIST, ROW_NECK, ROW_PELVIS, ROW_RWRIST, MetricAssets,
)
from .metric_names import METRIC_LABELS, METRICS, MetricLabel  # noqa: F401  (re-exported)
from .metric_sums import QUANTUM, MetricSums, quantize  # noqa: F401  (re-exported)
from .procrustes import procrustes_error


M_TO_MM = 1000.0


def _mean_dist(diff: Tensor) -> Tensor:
    return torch.linalg.vector_norm(diff, dim=-1).mean(-1)


def compute_metrics(pred: Tensor, gt: Tensor, assets: MetricAssets, inplace: bool = False) -> dict[str, Tensor]:
    """Per-sample metrics in mm for meshes ``pred`` and ``gt`` (B, V, 3) in metres.

    Returns {metric: (B,) float32 tensor} for every key of METRICS. With ``inplace=True`` the
    inputs are re-centred in place (saves two full-size copies); the values do not change.
    """
    if pred.shape != gt.shape or pred.dim() != 3 or pred.shape[-1] != 3:
        raise ValueError(f"pred and gt must both be (B, V, 3), got {tuple(pred.shape)} and {tuple(gt.shape)}")
    # Every metric is invariant to a common translation; shifting both meshes by a GT vertex near
    # the pelvis keeps float32 coordinates small (camera-frame meshes sit metres away).
    anchor = gt[:, assets.anchor_vertex: assets.anchor_vertex + 1].clone()
    pred = pred.sub_(anchor) if inplace else pred - anchor
    gt = gt.sub_(anchor) if inplace else gt - anchor
    jp = assets.regress(pred)  # (B, 60, 3)
    jg = assets.regress(gt)
    out: dict[str, Tensor] = {}

    diff = pred - gt  # pelvis/wrist/neck alignment = subtracting a per-sample offset from diff
    joint_offset = jp - jg

    def part(ids: Tensor, row: int) -> tuple[Tensor, Tensor]:
        d = torch.index_select(diff, 1, ids).sub_(joint_offset[:, row: row + 1])
        # each subset shifted by its own joint: PA is translation invariant, float32 precision is not
        p = torch.index_select(pred, 1, ids).sub_(jp[:, row: row + 1])
        g = torch.index_select(gt, 1, ids).sub_(jg[:, row: row + 1])
        return _mean_dist(d), procrustes_error(p, g)

    out["mpvpe_l_hand"], out["pa_mpvpe_l_hand"] = part(assets.left_hand, ROW_LWRIST)
    out["mpvpe_r_hand"], out["pa_mpvpe_r_hand"] = part(assets.right_hand, ROW_RWRIST)
    out["mpvpe_face"], out["pa_mpvpe_face"] = part(assets.face, ROW_NECK)
    out["mpvpe_all"] = _mean_dist(diff.sub_(joint_offset[:, ROW_PELVIS: ROW_PELVIS + 1]))
    del diff
    out["pa_mpvpe_all"] = procrustes_error(pred, gt)

    pelvis_offset = joint_offset[:, ROW_PELVIS: ROW_PELVIS + 1]
    out["mpjpe_body"] = _mean_dist(joint_offset[:, J14_ROWS] - pelvis_offset)
    out["pa_mpjpe_body"] = procrustes_error(jp[:, J14_ROWS], jg[:, J14_ROWS])
    out["pa_mpjpe_l_hand"] = procrustes_error(jp[:, LHAND_ROWS], jg[:, LHAND_ROWS])
    out["pa_mpjpe_r_hand"] = procrustes_error(jp[:, RHAND_ROWS], jg[:, RHAND_ROWS])
    for prefix in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        out[f"{prefix}_hand"] = 0.5 * (out[f"{prefix}_l_hand"] + out[f"{prefix}_r_hand"])
    return {k: out[k] * M_TO_MM for k in METRICS}
