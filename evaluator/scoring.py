"""Score predictions against ground truth in bounded-memory chunks, per split."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import Tensor

from .body_model import BodyModel
from .formats import VERTICES, SampleSet, match_samples
from .metrics import MetricSums, compute_metrics

Progress = Callable[[int, int], None]


def _meshes(body_model: BodyModel, samples: SampleSet, index: np.ndarray) -> Tensor:
    arrays = samples.take(index)
    if samples.kind == "vertices":
        return torch.from_numpy(arrays[VERTICES]).to(body_model.device, body_model.dtype)
    return body_model.vertices(arrays, chunk_size=len(index))


def score_samples(body_model: BodyModel, gt: SampleSet, pred: SampleSet, gt_index: np.ndarray | None = None,
                  pred_index: np.ndarray | None = None, chunk_size: int = 256,
                  progress: Progress | None = None) -> dict[str, MetricSums]:
    """Metric sums per GT split for the GT rows ``gt_index`` (default: all).

    ``pred_index[i]`` is the prediction row for GT row ``gt_index[i]``; by default it comes from
    ``match_samples`` (which raises FormatError on missing/unknown ids). GT given as params is
    meshed through the same neutral layer as the predictions. ``progress(done, total)`` is
    called after every chunk.
    """
    gt_index = np.arange(len(gt)) if gt_index is None else np.asarray(gt_index, dtype=np.int64)
    if pred_index is None:
        pred_index = match_samples(gt, pred)[gt_index]
    pred_index = np.asarray(pred_index, dtype=np.int64)
    if gt_index.shape != pred_index.shape:
        raise ValueError(f"gt_index and pred_index differ in shape: {gt_index.shape} vs {pred_index.shape}")
    if chunk_size < 1:
        raise ValueError("chunk_size must be >= 1")
    total = len(gt_index)
    sums: dict[str, MetricSums] = {}
    with torch.inference_mode():
        for start in range(0, total, chunk_size):
            gi, pi = gt_index[start: start + chunk_size], pred_index[start: start + chunk_size]
            values = compute_metrics(_meshes(body_model, pred, pi), _meshes(body_model, gt, gi),
                                     body_model.assets, inplace=True)
            splits = gt.splits[gi]
            for split in np.unique(splits):
                mask = torch.as_tensor(splits == split, device=body_model.device)
                sums.setdefault(str(split), MetricSums()).add({k: v[mask] for k, v in values.items()})
            if progress is not None:
                progress(min(start + chunk_size, total), total)
    return sums
