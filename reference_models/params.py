"""Parameter counts of every reference model, built on the 'meta' device (no memory allocated).

    python -m reference_models.params --arch smpler_x --size S
    python -m reference_models.params            # all archs and sizes

``OFFICIAL_PARAMS`` are the trainable-parameter totals of the official models (sum over the official
``Model.trainable_modules``: SMPLer-X encoder + necks + heads, SMPLest-X encoder + decoder, as the
SMPLest-X constructor prints them), counted by building the official classes of
caizhongang/SMPLer-X @ d3e3c10 and SMPLCap/SMPLest-X @ 6d0aea7. SMPLest-X releases only H; S/B/L
use the SMPLer-X ViT encoder sizes with the same decoder.
"""
from __future__ import annotations

import argparse

import torch

from .models import ARCHS, build_model
from .vit import VIT_SIZES

PAPER_SIZES = ("S", "B", "L", "H")
OFFICIAL_PARAMS: dict[tuple[str, str], int] = {
    ("smpler_x", "S"): 32_008_024, ("smpler_x", "B"): 102_939_928,
    ("smpler_x", "L"): 326_654_872, ("smpler_x", "H"): 661_827_096,
    ("smplest_x", "S"): 37_405_808, ("smplest_x", "B"): 116_564_336,
    ("smplest_x", "L"): 346_050_416, ("smplest_x", "H"): 687_223_152,
}


def count_parameters(arch: str, size: str) -> int:
    with torch.device("meta"):
        model = build_model(arch, size)
    return sum(p.numel() for p in model.parameters())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", choices=sorted(ARCHS), help="default: all")
    parser.add_argument("--size", choices=list(VIT_SIZES), help="default: S, B, L, H")
    args = parser.parse_args(argv)
    for arch in [args.arch] if args.arch else sorted(ARCHS):
        for size in [args.size] if args.size else PAPER_SIZES:
            n = count_parameters(arch, size)
            official = OFFICIAL_PARAMS.get((arch, size))
            ref = f"  official {official:,d} ({'equal' if n == official else f'{n - official:+,d}'})" if official else ""
            print(f"{arch:10s} {size:4s} {n:>13,d}  {n / 1e6:8.1f}M{ref}")


if __name__ == "__main__":
    main()
