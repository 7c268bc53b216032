"""Order-independent per-metric sums (NumPy only: the web process merges shard results without torch).

Per-sample values are rounded to multiples of 2**-20 mm (~1e-6 mm, far below float32 noise) before
summing: float64 sums of such values are exact (up to 2**33 mm in total), so the sum does not depend
on the order of samples, chunks or shards.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .metric_names import METRICS

QUANTUM = 2.0 ** -20


def _as_float64(values: Any) -> np.ndarray:
    """A float64 NumPy copy of an array-like or a (possibly GPU) torch tensor, without importing torch."""
    if hasattr(values, "detach"):
        values = values.detach().double().cpu().numpy()
    return np.asarray(values, dtype=np.float64)


def quantize(values: Any) -> np.ndarray:
    return np.round(_as_float64(values) / QUANTUM) * QUANTUM


@dataclass
class MetricSums:
    """Per-metric float64 sum and sample count; merge shards, then take ``means()``."""

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))

    def add(self, values: Mapping[str, Any]) -> "MetricSums":
        """Accumulate per-sample values ({metric: (B,)} arrays or tensors) in place; returns self."""
        for key, v in values.items():
            q = quantize(v)
            self.sums[key] = self.sums.get(key, 0.0) + float(q.sum())
            self.counts[key] = self.counts.get(key, 0) + int(q.size)
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
