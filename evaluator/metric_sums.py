"""Order-independent metric accumulation (NumPy only, so the web process can merge shard sums).

Per-sample values are rounded to multiples of 2**-20 mm (~1e-6 mm, far below float32 noise)
before summing: float64 sums of such values are exact (up to 2**33 mm in total), so the sum does
not depend on the order of samples, chunks or shards. A NaN per-sample value means "no value for
this sample" (e.g. a hand with no visible vertex on UBody): it is left out of that metric's sum
and count, and the sample still counts in ``num_samples``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import numpy as np

from .metric_names import METRICS

QUANTUM = 2.0 ** -20


def _as_numpy(values: Any) -> np.ndarray:
    if hasattr(values, "detach"):  # a torch tensor; avoid importing torch here
        values = values.detach().cpu().double().numpy()
    return np.asarray(values, dtype=np.float64).reshape(-1)


def quantize(values: Any) -> np.ndarray:
    """Per-sample values rounded to multiples of QUANTUM (float64; NaN stays NaN)."""
    return np.round(_as_numpy(values) / QUANTUM) * QUANTUM


@dataclass
class MetricSums:
    """Per-metric float64 sum and count of present values, plus the number of samples seen.

    ``MetricSums()`` starts with the generic recipe's keys; ``MetricSums.empty(keys)`` with others.
    Merge shards with ``merge``/``merge_all``, then take ``means()``.
    """

    sums: dict[str, float] = field(default_factory=lambda: dict.fromkeys(METRICS, 0.0))
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METRICS, 0))
    samples: int | None = None  # None: unknown (old stored dicts) -> the largest count

    @classmethod
    def empty(cls, keys: Iterable[str]) -> "MetricSums":
        keys = tuple(keys)
        return cls(dict.fromkeys(keys, 0.0), dict.fromkeys(keys, 0), 0)

    def add(self, values: Mapping[str, Any]) -> "MetricSums":
        """Accumulate per-sample values ({metric: (B,)}, NaN = missing) in place; returns self."""
        batch = 0
        for key, v in values.items():
            q = quantize(v)
            present = ~np.isnan(q)
            self.sums[key] = self.sums.get(key, 0.0) + float(q[present].sum())
            self.counts[key] = self.counts.get(key, 0) + int(present.sum())
            batch = max(batch, q.size)
        self.samples = (self.samples or 0) + batch
        return self

    def merge(self, other: "MetricSums") -> "MetricSums":
        """New MetricSums holding both."""
        keys = dict.fromkeys([*self.sums, *other.sums])
        return MetricSums({k: self.sums.get(k, 0.0) + other.sums.get(k, 0.0) for k in keys},
                          {k: self.counts.get(k, 0) + other.counts.get(k, 0) for k in keys},
                          self.num_samples + other.num_samples)

    @classmethod
    def merge_all(cls, items: Iterable["MetricSums"]) -> "MetricSums":
        total: MetricSums | None = None
        for item in items:
            total = item if total is None else total.merge(item)
        return cls() if total is None else total

    def means(self) -> dict[str, float | None]:
        """{metric: mean in mm}, None for metrics without any value."""
        return {k: (self.sums[k] / self.counts[k] if self.counts[k] else None) for k in self.sums}

    @property
    def num_samples(self) -> int:
        if self.samples is not None:
            return self.samples
        return max(self.counts.values(), default=0)

    def to_dict(self) -> dict:
        return {"sums": dict(self.sums), "counts": dict(self.counts), "samples": self.num_samples}

    @classmethod
    def from_dict(cls, data: Mapping) -> "MetricSums":
        try:
            sums = {str(k): float(v) for k, v in data["sums"].items()}
            counts = {str(k): int(v) for k, v in data["counts"].items()}
            samples = int(data["samples"]) if data.get("samples") is not None else None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a MetricSums dict: {exc}") from exc
        if sums.keys() != counts.keys():
            raise ValueError("MetricSums dict: 'sums' and 'counts' have different keys")
        return cls(sums, counts, samples)
