"""Run a reference model on an image benchmark and write a predictions ``.npz``.

    python -m reference_models.infer --checkpoint CKPT --benchmark DIR_or_manifest.json --out PRED.npz
    python -m reference_models.infer --official CKPT.pth.tar --arch smpler_x --size H --benchmark ... --out ...

Output keys: ``sample_ids`` (unicode) and float32 SMPL-X axis-angle arrays ``global_orient`` (N,3),
``body_pose`` (N,21,3), ``left_hand_pose``/``right_hand_pose`` (N,15,3), ``jaw_pose`` (N,3),
``betas`` (N,10), ``expression`` (N,10), ``transl`` (N,3) — the leaderboard's prediction format.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import load_checkpoint, load_official_checkpoint
from .data.dataset import CropDataset
from .data.sources import load_manifest
from .models import ARCHS, build_model
from .smplx_layout import PARAM_SHAPES
from .vit import VIT_SIZES


@torch.no_grad()
def predict(model: torch.nn.Module, benchmark: str | Path, batch_size: int = 32, num_workers: int = 0,
            device: str | torch.device = "cpu", progress: bool = True) -> dict[str, np.ndarray]:
    records = load_manifest(benchmark, gt_path=None)
    for rec in records:  # never read GT at inference, even if the manifest names one
        rec.params = None
    loader = DataLoader(CropDataset(records), batch_size, num_workers=num_workers)
    model.to(device).eval()
    ids: list[str] = []
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in PARAM_SHAPES}
    for batch in tqdm(loader, disable=not progress, desc="infer"):
        out = model(batch["img"].to(device))
        ids += list(batch["sample_id"])
        for k in PARAM_SHAPES:
            chunks[k].append(out[k].float().cpu().numpy())
    preds = {k: np.concatenate(v).astype(np.float32) if v else np.zeros((0,) + PARAM_SHAPES[k], np.float32)
             for k, v in chunks.items()}
    return {"sample_ids": np.array(ids, dtype=str), **preds}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a reference_models checkpoint (train.py output)")
    src.add_argument("--official", help="official SMPLer-X/SMPLest-X weights (needs --arch/--size)")
    parser.add_argument("--arch", choices=sorted(ARCHS))
    parser.add_argument("--size", choices=list(VIT_SIZES))
    parser.add_argument("--benchmark", required=True, help="folder with manifest.json, or the manifest file")
    parser.add_argument("--out", required=True)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint)
    else:
        if not (args.arch and args.size):
            parser.error("--official needs --arch and --size")
        model = build_model(args.arch, args.size)
        report = load_official_checkpoint(model, args.official)
        print({k: len(v) for k, v in report.items()}, "missing/unexpected/mismatched keys")
    preds = predict(model, args.benchmark, args.batch_size, args.num_workers, args.device)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **preds)
    print(f"wrote {len(preds['sample_ids'])} predictions to {out}")


if __name__ == "__main__":
    main()
