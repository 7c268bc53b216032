"""Metric keys and their labels (plain Python: the web process reads these without importing torch)."""
from __future__ import annotations

from typing import NamedTuple

# The generic SMPL-X recipe's keys, in display order (evaluator.metrics.compute_metrics).
METRICS: tuple[str, ...] = (
    "mpvpe_all", "pa_mpvpe_all",
    "mpvpe_l_hand", "mpvpe_r_hand", "mpvpe_hand",
    "pa_mpvpe_l_hand", "pa_mpvpe_r_hand", "pa_mpvpe_hand",
    "mpvpe_face", "pa_mpvpe_face",
    "mpjpe_body", "pa_mpjpe_body",
    "pa_mpjpe_l_hand", "pa_mpjpe_r_hand", "pa_mpjpe_hand",
)
# Produced only by protocol options (SMPLest-X non-PA hand MPJPE).
EXTRA_METRICS: tuple[str, ...] = ("mpjpe_l_hand", "mpjpe_r_hand", "mpjpe_hand")
ALL_METRICS: tuple[str, ...] = METRICS + EXTRA_METRICS


class MetricLabel(NamedTuple):
    label: str  # short human label for tables and plots
    part: str  # "all", "body", "hands" or "face"
    procrustes: bool  # True for PA-aligned metrics
    higher_is_better: bool = False  # detection rates (precision, recall, F1); every error is lower-is-better
    unit: str = "mm"  # "" for a fraction


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
EXTRA_METRIC_LABELS: dict[str, MetricLabel] = {
    "mpjpe_l_hand": MetricLabel("MPJPE (left hand)", "hands", False),
    "mpjpe_r_hand": MetricLabel("MPJPE (right hand)", "hands", False),
    "mpjpe_hand": MetricLabel("MPJPE (hands)", "hands", False),
}
assert tuple(EXTRA_METRIC_LABELS) == EXTRA_METRICS
ALL_METRIC_LABELS: dict[str, MetricLabel] = {**METRIC_LABELS, **EXTRA_METRIC_LABELS}
