"""Mixed precision on the GPU vs float32 on the CPU: a few training steps of the same model from the same start.

    python -m reference_models.amp_check [--size S] [--steps 5] [--batch-size 4] [--json OUT]

Renders a few synthetic people (synthetic SMPL-X model, in a temporary folder), then trains the SMPLer-X of
``--size`` for ``--steps`` Adam steps twice from identical weights on identical batches: on the CPU in float32,
and on CUDA under ``torch.autocast(float16)`` with ``GradScaler`` — the trainer's two paths. It prints the total
loss per step of both and their relative difference, and passes when every step is within the tolerance:
``STEP0_RTOL`` for the first (the same weights, so only fp16 rounding of the forward) and ``RTOL`` after (fp16
gradients, and GradScaler skips a step whose scaled gradients overflow, which it reports). Takes under 5
minutes for S on one GPU. Without CUDA it runs the CPU half, prints ``SKIP: no CUDA device`` and exits 0.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from torch.utils.data import default_collate

STEP0_RTOL = 1e-2  # fp16 forward of the same weights
RTOL = 5e-2  # after fp16 optimiser steps
LR = 1e-5  # the official S/H learning rate


def _batches(model_dir: Path, data_dir: Path, steps: int, batch_size: int) -> list[dict]:
    from .data.dataset import CropDataset
    from .data.sources import load_manifest
    from .data.synthetic import make_synthetic_image_set

    make_synthetic_image_set(data_dir, model_dir, steps * batch_size, seed=0, progress=False)
    ds = CropDataset(load_manifest(data_dir))
    return [default_collate([ds[i * batch_size + j] for j in range(batch_size)]) for i in range(steps)]


def run_steps(size: str, batches: list[dict], model_dir: Path, device: str, amp: bool) -> dict:
    """Total loss per step; ``skipped`` counts steps GradScaler skipped (inf/NaN gradients)."""
    from .body import SMPLXJoints
    from .losses import compute_losses
    from .models import build_model

    torch.manual_seed(0)
    model = build_model("smpler_x", size).to(device).train()
    body = SMPLXJoints(model_dir).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    scaler = torch.amp.GradScaler(device, enabled=amp)
    losses, skipped = [], 0
    for batch in batches:
        batch = {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}
        with torch.autocast(device, dtype=torch.float16, enabled=amp):
            out = model(batch["img"])
        total = compute_losses("smpler_x", out, batch, body)["total"]
        opt.zero_grad(set_to_none=True)
        scale = scaler.get_scale() if amp else 1.0
        scaler.scale(total).backward()
        scaler.step(opt)
        scaler.update()
        skipped += int(amp and scaler.get_scale() < scale)
        losses.append(float(total))
    return {"device": device, "amp": amp, "losses": losses, "skipped": skipped}


def compare(cpu: list[float], gpu: list[float]) -> tuple[list[float], bool]:
    rel = [abs(g - c) / max(abs(c), 1e-12) for c, g in zip(cpu, gpu)]
    ok = all(r <= (STEP0_RTOL if i == 0 else RTOL) for i, r in enumerate(rel))
    return rel, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="S")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--model-dir", type=Path, help="an SMPL-X model folder (default: a synthetic one, made here)")
    args = parser.parse_args(argv)
    from evaluator.synthetic_model import make_synthetic_model

    with tempfile.TemporaryDirectory() as tmp:
        model_dir = args.model_dir or make_synthetic_model(Path(tmp) / "smplx")
        batches = _batches(model_dir, Path(tmp) / "images", args.steps, args.batch_size)
        cpu = run_steps(args.size, batches, model_dir, "cpu", amp=False)
        print(f"cpu float32 losses: {[round(v, 4) for v in cpu['losses']]}")
        report = {"size": args.size, "steps": args.steps, "batch_size": args.batch_size, "cpu": cpu,
                  "step0_rtol": STEP0_RTOL, "rtol": RTOL}
        if not torch.cuda.is_available():
            print("SKIP: no CUDA device; only the CPU float32 half ran")
            report["skipped"] = "no CUDA device"
            ok = True
        else:
            gpu = run_steps(args.size, batches, model_dir, "cuda", amp=True)
            rel, ok = compare(cpu["losses"], gpu["losses"])
            report.update(gpu=gpu, relative_difference=rel, passed=ok, device_name=torch.cuda.get_device_name())
            print(f"cuda fp16+GradScaler losses: {[round(v, 4) for v in gpu['losses']]} "
                  f"({gpu['skipped']} steps skipped by GradScaler)")
            print(f"relative difference: {[f'{r:.2e}' for r in rel]} -> {'PASS' if ok else 'FAIL'} "
                  f"(step 0 <= {STEP0_RTOL}, later <= {RTOL})")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
