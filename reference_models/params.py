"""Parameter counts of every reference model, built on the 'meta' device (no memory allocated).

    python -m reference_models.params --arch smpler_x --size S
    python -m reference_models.params            # all archs and sizes
"""
from __future__ import annotations

import argparse

import torch

from .models import ARCHS, build_model
from .vit import VIT_SIZES

PAPER_SIZES = ("S", "B", "L", "H")
# published totals (SMPLer-X README; SMPLest-X ~0.69B, third-party 687M for H)
PUBLISHED_PARAMS: dict[tuple[str, str], float] = {
    ("smpler_x", "S"): 32e6, ("smpler_x", "B"): 103e6, ("smpler_x", "L"): 327e6, ("smpler_x", "H"): 662e6,
    ("smplest_x", "H"): 687e6,
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
            published = PUBLISHED_PARAMS.get((arch, size))
            ref = f"  (published {published / 1e6:.0f}M, {100 * (n / published - 1):+.1f}%)" if published else ""
            print(f"{arch:10s} {size:4s} {n:>13,d}  {n / 1e6:8.1f}M{ref}")


if __name__ == "__main__":
    main()
