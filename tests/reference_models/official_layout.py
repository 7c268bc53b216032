"""Seeded official-layout state dicts rebuilt from the stored key → shape inventories.

The inventories (``data/official_inventory.json``) and golden outputs (``data/golden_*.npz``) were
produced by running the official model classes — caizhongang/SMPLer-X ``main/SMPLer_X.py:Model``
(@ d3e3c10) and SMPLCap/SMPLest-X ``models/SMPLest_X.py:Model`` (@ 6d0aea7) — outside this repository,
with every tensor filled by :func:`seeded_tensor` and the input from :func:`seeded_input`. Nothing here
derives names from our models: the names come from the inventory alone.
"""
from __future__ import annotations

import hashlib
import json
import math
from functools import cache
from pathlib import Path

import torch

DATA_DIR = Path(__file__).parent / "data"
INVENTORY_PATH = DATA_DIR / "official_inventory.json"
INPUT_SHAPE = (2, 3, 512, 384)  # batch of 2 at the official input_img_shape; the models downsample it
INPUT_SEED = 20250101


@cache
def inventory() -> dict:
    return json.loads(INVENTORY_PATH.read_text())


def inventory_entry(arch: str, size: str) -> dict:
    return inventory()["models"][f"{arch}_{size}"]


def _seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") & ((1 << 63) - 1)


def seeded_tensor(name: str, shape: list[int], dtype: str) -> torch.Tensor:
    """A deterministic tensor for one state-dict entry, from its name and shape only.

    Matrices get std 1/sqrt(fan_in) (fan_in = product of the trailing dims), tokens/embeddings 0.02,
    norm scales 1 ± 0.1, biases 1 ± 0.25, BatchNorm running variances in [1, 1.3); integers are zero.
    """
    torch_dtype = getattr(torch, dtype)
    if not torch_dtype.is_floating_point:
        return torch.zeros(shape, dtype=torch_dtype)
    gen = torch.Generator().manual_seed(_seed(name))
    noise = torch.randn(shape, generator=gen, dtype=torch.float32)
    leaf = name.rsplit(".", 1)[-1]
    if leaf == "running_var":
        value = 1.0 + 0.1 * noise.abs()
    elif leaf == "running_mean":
        value = 0.1 * noise
    elif len(shape) >= 3 and ("embed" in leaf or "token" in leaf):
        value = 0.02 * noise
    elif len(shape) >= 2:
        value = noise / math.sqrt(math.prod(shape[1:]))
    elif leaf == "weight":
        value = 1.0 + 0.1 * noise
    else:  # biases around 1 so that the random heads predict boxes of a few heat-map cells, not ~0
        value = 1.0 + 0.25 * noise
    return value.to(torch_dtype)


def seeded_state_dict(arch: str, size: str, prefix: str = "", rename: tuple[str, str] | None = None,
                      ) -> dict[str, torch.Tensor]:
    """The official-layout state dict of one model, optionally prefixed (``module.``) or renamed (legacy)."""
    out = {}
    for name, shape, dtype in inventory_entry(arch, size)["state_dict"]:
        key = name.replace(*rename) if rename else name
        out[prefix + key] = seeded_tensor(name, shape, dtype)
    return out


def seeded_input(dtype: torch.dtype = torch.float64) -> torch.Tensor:
    gen = torch.Generator().manual_seed(INPUT_SEED)
    return torch.rand(INPUT_SHAPE, generator=gen, dtype=torch.float64).to(dtype)
