"""Score predictions against ground truth in bounded-memory chunks, per split.

Kept for existing callers: ``score_samples`` is the "smplx-generic" protocol with its defaults.
New code should use ``evaluator.protocols.get_protocol(name).score``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .formats import SampleSet
from .metric_sums import MetricSums

Progress = Callable[[int, int], None]


def score_samples(body_model, gt: SampleSet, pred: SampleSet, gt_index: np.ndarray | None = None,
                  pred_index: np.ndarray | None = None, chunk_size: int = 256,
                  progress: Progress | None = None, threads: int = 1) -> dict[str, MetricSums]:
    """Metric sums per GT split for the GT rows ``gt_index`` (default: all), generic recipe.

    ``body_model`` is a BodyModel (or a ProtocolModels). ``pred_index[i]`` is the prediction row
    for GT row ``gt_index[i]``; by default it comes from ``match_samples`` (which raises
    FormatError on missing/unknown ids). ``progress(done, total)`` is called after every chunk.
    """
    from .protocols import get_protocol

    return get_protocol("smplx-generic").score(body_model, gt, pred, gt_index, pred_index, chunk_size, progress, threads)
