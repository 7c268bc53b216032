"""Run a reference model on an image benchmark and write a predictions ``.npz``.

    python -m reference_models.infer --checkpoint CKPT --benchmark DIR_or_manifest.json --out PRED.npz
    python -m reference_models.infer --official CKPT.pth.tar --arch smpler_x --size H --benchmark ... --out ...

A checkpoint must fill the model exactly (every tensor present, none unknown, same shapes); otherwise
the run stops and lists what did not match, unless ``--allow-partial``. Preprocessing defaults to the
official pipeline: nearest-neighbour 512×384 → 256×192 and the model's box ratio (SMPLer-X 1.25,
SMPLest-X 1.2); ``--downsample box`` / ``--box-ratio`` override it.

Output keys: ``sample_ids`` (unicode) and float32 SMPL-X axis-angle arrays ``global_orient`` (N,3),
``body_pose`` (N,21,3), ``left_hand_pose``/``right_hand_pose`` (N,15,3), ``jaw_pose`` (N,3),
``betas`` (N,10), ``expression`` (N,10), ``transl`` (N,3) — the leaderboard's prediction format.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from .checkpoint import CheckpointMismatch, LoadReport, load_checkpoint, load_official_checkpoint
from .data.crop import DOWNSAMPLE_MODES
from .data.dataset import CropDataset
from .data.sources import load_manifest
from .models import ARCHS, INFERENCE_BOX_RATIO, build_model
from .smplx_layout import PARAM_SHAPES
from .vit import VIT_SIZES


@torch.no_grad()
def predict(model: torch.nn.Module, benchmark: str | Path, batch_size: int = 32, num_workers: int = 0,
            device: str | torch.device = "cpu", progress: bool = True, box_ratio: float | None = None,
            downsample: str = "nearest", timings: list[float] | None = None) -> dict[str, np.ndarray]:
    """Predictions for every sample of the benchmark; ``box_ratio`` defaults to the model's official one.

    ``timings``, when given, receives each batch's milliseconds per image (the model's forward only; the first batch
    is run once before, untimed, as the warm-up); its median is the board's ms/image.
    """
    records = load_manifest(benchmark, gt_path=None)
    for rec in records:  # never read GT at inference, even if the manifest names one
        rec.params = None
    ratio = INFERENCE_BOX_RATIO[model.arch] if box_ratio is None else box_ratio
    loader = DataLoader(CropDataset(records, downsample=downsample, box_ratio=ratio), batch_size, num_workers=num_workers)
    model.to(device).eval()
    ids: list[str] = []
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in PARAM_SHAPES}
    for index, batch in enumerate(tqdm(loader, disable=not progress, desc="infer")):
        images = batch["img"].to(device)
        if timings is None:
            out = model(images)
        else:
            out = _timed_forward(model, images, warm_up=index == 0, timings=timings)
        ids += list(batch["sample_id"])
        for k in PARAM_SHAPES:
            chunks[k].append(out[k].float().cpu().numpy().reshape((-1,) + PARAM_SHAPES[k]))
    preds = {k: np.concatenate(v).astype(np.float32) if v else np.zeros((0,) + PARAM_SHAPES[k], np.float32)
             for k, v in chunks.items()}
    return {"sample_ids": np.array(ids, dtype=str), **preds}


def _timed_forward(model: torch.nn.Module, images: torch.Tensor, warm_up: bool, timings: list[float]) -> dict:
    import time

    if warm_up:
        model(images)
    if images.device.type == "cuda":
        torch.cuda.synchronize(images.device)
    start = time.perf_counter()
    out = model(images)
    if images.device.type == "cuda":
        torch.cuda.synchronize(images.device)
    timings.append(1000.0 * (time.perf_counter() - start) / len(images))
    return out


def _print_report(report: LoadReport) -> None:
    print("checkpoint: " + ", ".join(f"{v} {k}" for k, v in report.counts().items()))
    if not report.complete:
        print(f"WARNING: partial load (--allow-partial): {report.describe()}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = parser.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="a reference_models checkpoint (train.py output)")
    src.add_argument("--official", help="official SMPLer-X/SMPLest-X weights (needs --arch/--size)")
    parser.add_argument("--arch", choices=sorted(ARCHS))
    parser.add_argument("--size", choices=list(VIT_SIZES))
    parser.add_argument("--allow-partial", action="store_true",
                        help="run even if the checkpoint leaves tensors missing / unknown / of another shape")
    parser.add_argument("--benchmark", required=True, help="folder with manifest.json, or the manifest file")
    parser.add_argument("--out", required=True)
    parser.add_argument("--box-ratio", type=float, help="person-box enlargement (default: the model's official one)")
    parser.add_argument("--downsample", choices=DOWNSAMPLE_MODES, default="nearest",
                        help="512×384 → 256×192: nearest (official) or box (2×2 mean)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args(argv)
    try:
        if args.checkpoint:
            model, _ = load_checkpoint(args.checkpoint, allow_partial=args.allow_partial)
        else:
            if not (args.arch and args.size):
                parser.error("--official needs --arch and --size")
            model = build_model(args.arch, args.size)
            _print_report(load_official_checkpoint(model, args.official, allow_partial=args.allow_partial))
    except CheckpointMismatch as exc:
        parser.exit(2, f"error: {exc}\n(pass --allow-partial to run the partly loaded model anyway)\n")
    except ValueError as exc:
        parser.exit(2, f"error: {exc}\n")
    preds = predict(model, args.benchmark, args.batch_size, args.num_workers, args.device,
                    box_ratio=args.box_ratio, downsample=args.downsample)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **preds)
    print(f"wrote {len(preds['sample_ids'])} predictions to {out}")


if __name__ == "__main__":
    main()
