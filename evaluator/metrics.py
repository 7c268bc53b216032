"""Batched whole-body metrics (mm), following the SMPLer-X / SMPLest-X generic evaluator.

See docs/metrics.md. ``compute_metrics`` returns per-sample values; ``MetricSums`` accumulates
them so that any sharding of a benchmark gives bit-identical means.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, NamedTuple

import torch
from torch import Tensor

from .parts import (
    J14_ROWS, LHAND_ROWS, RHAND_ROWS, ROW_LWRIST, ROW_NECK, ROW_PELVIS, ROW_RWRIST, MetricAssets,
)
from .procrustes import procrustes_error

METRICS: tuple[str, ...] = (
    "mpvpe_all", "pa_mpvpe_all",
    "mpvpe_l_hand", "mpvpe_r_hand", "mpvpe_hand",
    "pa_mpvpe_l_hand", "pa_mpvpe_r_hand", "pa_mpvpe_hand",
    "mpvpe_face", "pa_mpvpe_face",
    "mpjpe_body", "pa_mpjpe_body",
    "pa_mpjpe_l_hand", "pa_mpjpe_r_hand", "pa_mpjpe_hand",
)


class MetricLabel(NamedTuple):
    label: str  # short human label for tables and plots
    part: str  # "all", "body", "hands" or "face"
    procrustes: bool  # True for PA-aligned metrics


METRIC_LABELS: dict[str, MetricLabel] = {
    "mpvpe_all": MetricLabel("PVE (all)", "all", False),
    "pa_mpvpe_all": MetricLabel("PA-PVE (all)", "all", True),
    "mpvpe_l_hand": MetricLabel("PVE (left hand)", "hands", False),
    "mpvpe_r_hand": MetricLabel("PVE (right hand)", "hands", False),
    "mpvpe_hand": MetricLabel("PVE (hands)", "hands", False),
    "pa_mpvpe_l_hand": MetricLabel("PA-PVE (left hand)", "hands", True),
    "pa_mpvpe_r_hand": MetricLabel("PA-PVE (right hand)", "hands", True),
    "pa_mpvpe_hand": MetricLabel("PA-PVE (hands)", "hands", True),
    "mpvpe_face": MetricLabel("PVE (face)", "face", False),
    "pa_mpvpe_face": MetricLabel("PA-PVE (face)", "face", True),
    "mpjpe_body": MetricLabel("MPJPE (body, 14 joints)", "body", False),
    "pa_mpjpe_body": MetricLabel("PA-MPJPE (body, 14 joints)", "body", True),
    "pa_mpjpe_l_hand": MetricLabel("PA-MPJPE (left hand)", "hands", True),
    "pa_mpjpe_r_hand": MetricLabel("PA-MPJPE (right hand)", "hands", True),
    "pa_mpjpe_hand": MetricLabel("PA-MPJPE (hands)", "hands", True),
}
assert tuple(METRIC_LABELS) == METRICS

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


# Per-sample values are rounded to multiples of 2**-20 mm (~1e-6 mm, far below float32 noise)
# before summing: float64 sums of such values are exact (up to 2**33 mm in total), so the sum
# does not depend on the order of samples, chunks or shards.
QUANTUM = 2.0 ** -20


def quantize(values: Tensor) -> Tensor:
    return torch.round(values.double() / QUANTUM) * QUANTUM


@dataclass
class MetricSums:
    """Per-metric float64 sum and sample count; merge shards, then take ``means()``."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))

    def add(self, values: Mapping[str, Tensor]) -> "MetricSums":
        """Accumulate per-sample values ({metric: (B,)}) in place; returns self."""
        for key, v in values.items():
            self.sums[key] += float(quantize(v).sum())
            self.counts[key] += int(v.numel())
        return self

    def merge(self, other: "MetricSums") -> "MetricSums":
        """New MetricSums holding both."""
        keys = dict.fromkeys([*self.sums, *other.sums])
        return MetricSums({k: self.sums.get(k, 0.0) + other.sums.get(k, 0.0) for k in keys},
                          {k: self.counts.get(k, 0) + other.counts.get(k, 0) for k in keys})

    @classmethod
    def merge_all(cls, items) -> "MetricSums":
        total = cls()
        for item in items:
            total = total.merge(item)
        return total

    def means(self) -> dict[str, float | None]:
        """{metric: mean in mm}, None for metrics without samples."""
        return {k: (self.sums[k] / self.counts[k] if self.counts[k] else None) for k in self.sums}

    @property
    def num_samples(self) -> int:
        return max(self.counts.values(), default=0)

    def to_dict(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    @classmethod
    def from_dict(cls, data: Mapping) -> "MetricSums":
        try:
            sums = {str(k): float(v) for k, v in data["sums"].items()}
            counts = {str(k): int(v) for k, v in data["counts"].items()}
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a MetricSums dict: {exc}") from exc
        if sums.keys() != counts.keys():
            raise ValueError("MetricSums dict: 'sums' and 'counts' have different keys")
        return cls(sums, counts)
