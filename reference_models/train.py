"""Train a reference model.

    python -m reference_models.train --config tiny_synthetic
    torchrun --nproc_per_node 8 -m reference_models.train --config smpler_x_h   # DDP

Adam + cosine (lr → min_lr per step), autocast (bf16 on CPU, fp16 + GradScaler on CUDA), DDP with
SyncBatchNorm under torchrun, tqdm progress, JSON-lines log and checkpoints in ``out_dir``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from .body import SMPLXJoints
from .checkpoint import load_checkpoint, load_official_checkpoint, save_checkpoint
from .config import TrainConfig
from .data.augment import AugmentConfig
from .data.build import build_records
from .data.dataset import CropDataset
from .losses import compute_losses
from .models import build_model
from .smplx_layout import POSE_KEYS


def _setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    rank = dist.get_rank() if world > 1 else 0
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return rank, world, torch.device("cuda", local)
    return rank, world, torch.device("cpu")


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


@torch.no_grad()
def evaluate_pve(model, loader, body: SMPLXJoints, device, amp_ctx) -> dict[str, float]:
    """Pelvis-aligned vertex error and root-relative joint error (mm) on labelled data."""
    model.eval()
    pve, mpjpe, n = 0.0, 0.0, 0
    for batch in loader:
        batch = _to_device(batch, device)
        with amp_ctx():
            out = model(batch["img"])
        keys = (*POSE_KEYS, "betas", "expression")
        pred = body({k: out[k].float() for k in keys})
        gt = body({k: batch[k].float() for k in keys})
        pv = pred["vertices"] - pred["joints"][:, :1]
        gv = gt["vertices"] - gt["joints"][:, :1]
        pve += (pv - gv).norm(dim=-1).mean(-1).sum().item() * 1000
        pj, gj = pred["joints"] - pred["joints"][:, :1], gt["joints"] - gt["joints"][:, :1]
        mpjpe += (pj - gj).norm(dim=-1).mean(-1).sum().item() * 1000
        n += len(batch["img"])
    model.train()
    return {"pve_mm": pve / max(n, 1), "mpjpe_mm": mpjpe / max(n, 1)}


def train(cfg: TrainConfig) -> dict:
    cfg = cfg.resolved()
    rank, world, device = _setup_distributed()
    torch.manual_seed(cfg.seed + rank)
    out_dir = Path(cfg.out_dir)
    if cfg.make_synthetic_model and not (Path(cfg.model_dir) / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        from evaluator.synthetic_model import make_synthetic_model
        if rank == 0:
            make_synthetic_model(cfg.model_dir)
    if world > 1:
        dist.barrier()
    body = SMPLXJoints(cfg.model_dir).to(device)
    train_set = CropDataset(build_records(cfg.train, cfg.model_dir), AugmentConfig() if cfg.augment else None, cfg.seed,
                            downsample=cfg.downsample)
    val_set = CropDataset(build_records(cfg.val, cfg.model_dir), downsample=cfg.downsample) if cfg.val else None
    sampler = DistributedSampler(train_set, shuffle=True, seed=cfg.seed) if world > 1 else None
    loader = DataLoader(train_set, cfg.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True,
                        num_workers=cfg.num_workers, persistent_workers=cfg.num_workers > 0, pin_memory=device.type == "cuda")
    val_loader = DataLoader(val_set, cfg.batch_size, num_workers=cfg.num_workers) if val_set else None

    model = build_model(cfg.arch, cfg.size)
    if cfg.official_checkpoint:
        report = load_official_checkpoint(model, cfg.official_checkpoint)  # refuses a partial fit
        if rank == 0:
            print(f"official checkpoint: {json.dumps(report.counts())}")
    if cfg.init_checkpoint:
        model.load_state_dict(load_checkpoint(cfg.init_checkpoint)[0].state_dict())
    model.to(device).train()
    net = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model), device_ids=[device.index] if device.type == "cuda" else None)
    steps_per_epoch = len(loader)
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1), eta_min=cfg.min_lr)
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    amp_ctx = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if cfg.amp else nullcontext
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda")

    history: dict[str, list] = {"val": []}
    if val_loader and rank == 0:
        history["val"].append({"step": 0, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
        print(f"step 0 val {history['val'][-1]}")
    log = open(out_dir / "log.jsonl", "a") if rank == 0 and out_dir.mkdir(parents=True, exist_ok=True) is None else None
    step, start = 0, time.time()
    progress = tqdm(total=total_steps, disable=rank != 0, desc=f"{cfg.arch}-{cfg.size}")
    for epoch in range(math.ceil(total_steps / max(steps_per_epoch, 1))):
        train_set.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        for batch in loader:
            batch = _to_device(batch, device)
            with amp_ctx():
                out = net(batch["img"])
            losses = compute_losses(cfg.arch, out, batch, body)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["total"]).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            step += 1
            progress.update()
            if rank == 0 and step % cfg.log_every == 0:
                record = {"step": step, "epoch": epoch, "lr": scheduler.get_last_lr()[0], "time_s": round(time.time() - start, 1),
                          **{k: round(v.item(), 5) for k, v in losses.items()}}
                log.write(json.dumps(record) + "\n")
                log.flush()
                progress.set_postfix(loss=f"{record['total']:.3f}")
            if rank == 0 and val_loader and cfg.val_every and step % cfg.val_every == 0:
                history["val"].append({"step": step, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
            if step >= total_steps:
                break
        if rank == 0:
            save_checkpoint(out_dir / "last.pth", model, step=step, epoch=epoch, optimizer=optimizer.state_dict())
            if val_loader and not cfg.val_every:
                history["val"].append({"step": step, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
                tqdm.write(f"epoch {epoch} step {step} val {history['val'][-1]}")
        if step >= total_steps:
            break
    progress.close()
    if rank == 0:
        log.write(json.dumps({"final_val": history["val"]}) + "\n")
        log.close()
    if world > 1:
        dist.destroy_process_group()
    return history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config name in reference_models/configs/ or a JSON path")
    parser.add_argument("--max-steps", type=int, help="override the config's step budget")
    parser.add_argument("--out-dir", help="override the config's out_dir")
    args = parser.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    if args.max_steps:
        cfg.max_steps = args.max_steps
    if args.out_dir:
        cfg.out_dir = args.out_dir
    torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    np.seterr(all="ignore")
    train(cfg)


if __name__ == "__main__":
    main()
