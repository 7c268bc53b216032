"""Many training datasets in one, as the official ``data_strategy`` mixes them.

Restated from caizhongang/SMPLer-X ``data/dataset.py`` (``MultipleDatasets``) and ``common/base.py``
(``_make_batch_generator``):

- ``concat``: the datasets one after the other; a dataset is drawn in proportion to its size.
- ``balance``: ``total_data_len`` draws split equally, ``total // n`` per dataset (``None``: the largest
  dataset's size × n). Draw ``k`` of a dataset is its row ``k mod len`` while whole passes fit, and a random
  row for the last, partial pass; a dataset larger than its share contributes only its first ``total // n`` rows,
  which is why the official loaders shuffle each dataset's list once when it is loaded (done here with the seed).
  The ``total mod n`` draws left over go to a random dataset each.

The official code draws those random rows with Python's ``random`` inside each worker; here each is a function
of (seed, index), so the whole index → (dataset, row) plan is fixed by the seed and identical on every rank and
worker, and a DistributedSampler over it splits exactly the draws a single process would make.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from torch.utils.data import Dataset

STRATEGIES = ("balance", "concat")


@dataclass(frozen=True)
class NamedDataset:
    name: str
    dataset: Dataset


def _draw(seed: int, index: int, high: int) -> int:
    """A random integer in [0, high) that depends only on (seed, index)."""
    return int(np.random.default_rng((seed, index)).integers(high))


class MixedDataset(Dataset):
    """index → (dataset, row) by ``strategy``; items get ``dataset`` (the source's name) added."""

    def __init__(self, sources: list[NamedDataset], strategy: str = "balance", total_len: int | None = None,
                 seed: int = 0):
        if strategy not in STRATEGIES:
            raise ValueError(f"data_strategy must be one of {STRATEGIES}, got {strategy!r}")
        if not sources:
            raise ValueError("no training datasets")
        empty = [s.name for s in sources if len(s.dataset) == 0]
        if empty:
            raise ValueError(f"training datasets without samples: {empty}")
        names = [s.name for s in sources]
        if len(set(names)) != len(names):
            raise ValueError(f"training dataset names must be unique, got {names}")
        self.sources, self.strategy, self.seed = sources, strategy, seed
        self.lengths = np.array([len(s.dataset) for s in sources])
        self.offsets = np.concatenate(([0], np.cumsum(self.lengths)))
        n = len(sources)
        self.total_len = int(total_len) if total_len else int(self.lengths.max()) * n
        self.per_db = self.total_len // n
        # the once-per-run shuffle of each dataset's list under `balance`
        self.orders = [np.random.default_rng((seed, 7919, d)).permutation(int(size)) for d, size in enumerate(self.lengths)]

    def __len__(self) -> int:
        return self.total_len if self.strategy == "balance" else int(self.offsets[-1])

    def locate(self, index: int) -> tuple[int, int]:
        """(dataset number, row in that dataset) of a mixed index."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self.strategy == "concat":
            db = int(np.searchsorted(self.offsets, index, side="right") - 1)
            return db, index - int(self.offsets[db])
        db, k = divmod(index, self.per_db)
        if db >= len(self.sources):  # the total_len mod n leftovers
            db = _draw(self.seed, index, len(self.sources))
        size = int(self.lengths[db])
        if size < self.per_db and k >= size * (self.per_db // size):  # last, partial pass: random rows
            return db, int(self.orders[db][_draw(self.seed + 1, index, size)])
        return db, int(self.orders[db][k % size])

    def __getitem__(self, index: int) -> dict:
        db, row = self.locate(index)
        item = self.sources[db].dataset[row]
        item["dataset"] = self.sources[db].name
        return item

    def set_epoch(self, epoch: int) -> None:
        for source in self.sources:
            if hasattr(source.dataset, "set_epoch"):
                source.dataset.set_epoch(epoch)

    def draw_counts(self, indices=None) -> dict[str, int]:
        """How often each dataset is drawn by ``indices`` (default: one whole pass)."""
        counts = Counter(self.locate(int(i))[0] for i in (range(len(self)) if indices is None else indices))
        return {s.name: counts.get(d, 0) for d, s in enumerate(self.sources)}

    def describe(self) -> dict:
        """What the training log records about the mix."""
        return {"data_strategy": self.strategy, "total_len": len(self), "seed": self.seed,
                "datasets": [{"name": s.name, "size": int(size)} for s, size in zip(self.sources, self.lengths)],
                "draws_per_pass": self.draw_counts()}
