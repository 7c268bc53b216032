"""Model factory: ``build_model("smpler_x" | "smplest_x", size)``."""
from __future__ import annotations

from torch import nn

from .smpler_x import SMPLerX
from .smplest_x import SMPLestX

ARCHS: dict[str, type[nn.Module]] = {"smpler_x": SMPLerX, "smplest_x": SMPLestX}
# person-box enlargement of the official inference scripts: SMPLer-X main/inference.py calls
# process_bbox with its default ratio 1.25; SMPLest-X main/inference.py passes cfg.data.bbox_ratio = 1.2
INFERENCE_BOX_RATIO: dict[str, float] = {"smpler_x": 1.25, "smplest_x": 1.2}


def build_model(arch: str, size: str) -> nn.Module:
    try:
        cls = ARCHS[arch]
    except KeyError:
        raise ValueError(f"unknown arch {arch!r}; expected one of {sorted(ARCHS)}") from None
    return cls(size)
