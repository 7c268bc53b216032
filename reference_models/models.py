"""Model factory: ``build_model("smpler_x" | "smplest_x", size)``."""
from __future__ import annotations

from torch import nn

from .smpler_x import SMPLerX
from .smplest_x import SMPLestX

ARCHS: dict[str, type[nn.Module]] = {"smpler_x": SMPLerX, "smplest_x": SMPLestX}


def build_model(arch: str, size: str) -> nn.Module:
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCHS)}") from None
    return cls(size)
