"""Greedy 2D matching of predicted people to ground-truth people in one image (NumPy only).

Restates AGORA's ``agora_evaluation/matching.py`` (``match_2d_greedy``, ``get_bbx_overlap``)
decision for decision, quirks included, so the counts agree with the official server
(docs/metrics.md, "Multi-person images"):

- A pair's cost is ``numpy.linalg.norm(pred[:24] - gt[:24], 2)`` of the 24x2 difference: the matrix
  2-norm (largest singular value), not a sum of per-joint distances.
- Pairs are visited cheapest first; equal costs in (prediction, GT) row-major order (``argmin``).
- The IoU gate (>= 0.1) uses the boxes spanned by *all* joints each side holds (GT may carry more
  than 24) with the +1 pixel convention, so a zero-extent box still has area 1.
- A visited pair below the gate counts towards a false-positive counter even when its prediction
  or GT is already taken; the loop stops once taken predictions plus that counter reach the number
  of predictions, which can leave matchable pairs unvisited.
- A visited pair whose GT is not eligible (invalid or occluded outside 0-90 %) retires that GT and
  leaves the prediction free; such GT is never a miss.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MATCH_JOINTS = 24
IOU_THRESHOLD = 0.1


@dataclass(frozen=True)
class ImageMatching:
    pairs: tuple[tuple[int, int], ...]  # (prediction row, GT row), in the order they were accepted
    false_positives: tuple[int, ...]  # prediction rows left unmatched
    misses: tuple[int, ...]  # eligible GT rows left unmatched
    excluded: tuple[int, ...]  # ineligible GT rows (sorted, unique)

    def gt_to_pred(self, num_gt: int) -> np.ndarray:
        """(num_gt,) prediction row per GT row, -1 where unmatched."""
        out = np.full(num_gt, -1, dtype=np.int64)
        for p, g in self.pairs:
            out[g] = p
        return out


def pair_costs(pred_joints: np.ndarray, gt_joints: np.ndarray) -> np.ndarray:
    """(P, G) matrix 2-norms of the first 24 joints' differences (the official ``l2_error``)."""
    diff = pred_joints[:, None, :MATCH_JOINTS, :2] - gt_joints[None, :, :MATCH_JOINTS, :2]
    if diff.size == 0:
        return np.zeros(diff.shape[:2])
    return np.linalg.norm(diff, 2, axis=(-2, -1))


def joint_boxes(joints: np.ndarray) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 spanned by every joint of each person."""
    if len(joints) == 0:
        return np.zeros((0, 4))
    lo, hi = joints[..., :2].min(axis=1), joints[..., :2].max(axis=1)
    return np.concatenate([lo, hi], axis=1)


def box_iou(pred_boxes: np.ndarray, gt_boxes: np.ndarray) -> np.ndarray:
    """(P, G) IoU with the +1 pixel convention, operations in the official order (float64)."""
    a, b = pred_boxes[:, None, :], gt_boxes[None, :, :]
    x_left, y_top = np.maximum(a[..., 0], b[..., 0]), np.maximum(a[..., 1], b[..., 1])
    x_right, y_bottom = np.minimum(a[..., 2], b[..., 2]), np.minimum(a[..., 3], b[..., 3])
    inter = np.maximum(0, x_right - x_left + 1) * np.maximum(0, y_bottom - y_top + 1)
    area_a = (a[..., 2] - a[..., 0] + 1) * (a[..., 3] - a[..., 1] + 1)
    area_b = (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)
    return inter / (area_a + area_b - inter)


def match_image(pred_joints: np.ndarray, gt_joints: np.ndarray, eligible: np.ndarray,
                iou_threshold: float = IOU_THRESHOLD) -> ImageMatching:
    """Match one image. ``pred_joints`` (P, >=24, 2) and ``gt_joints`` (G, >=24, 2) in pixels (float64),
    ``eligible`` (G,) bool: GT that may be matched or missed."""
    pred_joints = np.asarray(pred_joints, dtype=np.float64)
    gt_joints = np.asarray(gt_joints, dtype=np.float64)
    eligible = np.asarray(eligible, dtype=bool)
    num_pred, num_gt = len(pred_joints), len(gt_joints)
    costs = pair_costs(pred_joints, gt_joints).reshape(-1)
    iou = box_iou(joint_boxes(pred_joints), joint_boxes(gt_joints)).reshape(-1)
    pred_taken = np.zeros(num_pred, dtype=bool)
    gt_taken = np.zeros(num_gt, dtype=bool)
    pairs: list[tuple[int, int]] = []
    excluded: set[int] = set()
    gate_failures = 0
    while gt_taken.sum() < num_gt and pred_taken.sum() + gate_failures < num_pred:
        while True:  # visit pairs until one is accepted or fails the gate
            k = int(np.argmin(costs))
            costs[k] = np.inf
            p, g = divmod(k, num_gt)
            passes = bool(iou[k] >= iou_threshold)
            if passes and not pred_taken[p] and not gt_taken[g]:
                failed = False
                break
            if not passes:
                gate_failures += 1
                failed = True
                break
        if eligible[g]:
            if not failed:
                pairs.append((p, g))
                pred_taken[p] = gt_taken[g] = True
        else:
            gt_taken[g] = True
            excluded.add(g)
    matched_pred = {p for p, _ in pairs}
    matched_gt = {g for _, g in pairs}
    unmatched_gt = [g for g in range(num_gt) if g not in matched_gt]
    return ImageMatching(
        pairs=tuple(pairs),
        false_positives=tuple(p for p in range(num_pred) if p not in matched_pred),
        misses=tuple(g for g in unmatched_gt if eligible[g]),
        excluded=tuple(sorted(excluded | {g for g in unmatched_gt if not eligible[g]})),
    )
