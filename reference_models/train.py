"""Train a reference model.

    python -m reference_models.train --config tiny_synthetic [--resume]
    torchrun --nproc_per_node 8 -m reference_models.train --config smpler_x_h   # DDP (gloo on CPU, nccl on CUDA)

Datasets mixed by the config's ``data_strategy`` (``reference_models.data.mixing``), Adam + cosine
(lr → min_lr per step), autocast (bf16 on CPU, fp16 + GradScaler on CUDA), DDP with SyncBatchNorm on CUDA,
optional ViTPose encoder start and ``fine_tune`` freezing (``reference_models.pretrained``). Rank 0 alone
writes ``out_dir/log.jsonl`` and ``out_dir/last.pth`` (model, optimizer, scheduler, scaler, step, every rank's
RNG state); ``--resume`` continues from it at the next step with that state, skipping the batches of the
interrupted epoch that were already trained, so the run ends bit-identical to an uninterrupted one.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time
from collections import Counter
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
from .data.build import build_records, entry_name, load_entry
from .data.dataset import CropDataset
from .data.mixing import MixedDataset, NamedDataset
from .losses import compute_losses
from .models import build_model
from .pretrained import apply_fine_tune, load_vitpose
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


CHECKPOINT_NAME = "last.pth"
KILLED_EXIT_CODE = 17  # --exit-after-step: what a killed run's processes return (tests)


def build_mix(cfg: TrainConfig, rank: int) -> MixedDataset:
    """The training datasets of the config, each under its name, mixed by ``data_strategy``."""
    augment = AugmentConfig() if cfg.augment else None
    sources = [NamedDataset(entry_name(e), CropDataset(load_entry(e, cfg.model_dir), augment, cfg.seed,
                                                       downsample=cfg.downsample)) for e in cfg.train]
    return MixedDataset(sources, cfg.data_strategy, cfg.total_data_len, cfg.seed)


def epoch_indices(mix: MixedDataset, epoch: int, seed: int, world: int, rank: int) -> list[int]:
    """This rank's share of the epoch's shuffled draws (DistributedSampler, also for a single process)."""
    sampler = DistributedSampler(mix, num_replicas=world, rank=rank, shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def _rng_states(world: int) -> list[torch.Tensor]:
    state = torch.get_rng_state()
    if world == 1:
        return [state]
    gathered: list = [None] * world
    dist.all_gather_object(gathered, state)
    return gathered


def _rank_param_spread(model: torch.nn.Module, world: int) -> float:
    """Largest difference of any parameter between rank 0 and another rank (0.0 on one process)."""
    flat = torch.cat([p.detach().float().reshape(-1).cpu() for p in model.parameters()])
    if world == 1:
        return 0.0
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    return max(float((g - gathered[0]).abs().max()) for g in gathered)


def train(cfg: TrainConfig, resume: bool = False, exit_after_step: int | None = None) -> dict:
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
    if rank == 0:  # synthetic sets render once, on rank 0
        mix = build_mix(cfg, rank)
    if world > 1:
        dist.barrier()
    if rank != 0:
        mix = build_mix(cfg, rank)
    val_set = CropDataset(build_records(cfg.val, cfg.model_dir), downsample=cfg.downsample) if cfg.val else None
    val_loader = DataLoader(val_set, cfg.batch_size, num_workers=cfg.num_workers) if val_set else None

    model = build_model(cfg.arch, cfg.size)
    if cfg.vitpose_checkpoint:
        report = load_vitpose(model, cfg.vitpose_checkpoint)
        if rank == 0:
            print(f"ViTPose encoder: {json.dumps(report.counts())}")
    if cfg.official_checkpoint:
        report = load_official_checkpoint(model, cfg.official_checkpoint)  # refuses a partial fit
        if rank == 0:
            print(f"official checkpoint: {json.dumps(report.counts())}")
    if cfg.init_checkpoint:
        model.load_state_dict(load_checkpoint(cfg.init_checkpoint)[0].state_dict())
    frozen = apply_fine_tune(model, cfg.fine_tune)
    model.to(device).train()
    net = model
    if world > 1:
        sync = cfg.syncbn and device.type == "cuda"  # SyncBatchNorm works only on GPU modules
        net = torch.nn.parallel.DistributedDataParallel(
            torch.nn.SyncBatchNorm.convert_sync_batchnorm(model) if sync else model,
            device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=cfg.arch == "smplest_x")  # its to_token_embedding is never applied
    steps_per_epoch = len(epoch_indices(mix, 0, cfg.seed, world, rank)) // cfg.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"{len(mix)} draws per pass give no full batch of {cfg.batch_size} per rank")
    total_steps = cfg.max_steps or cfg.epochs * steps_per_epoch
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1), eta_min=cfg.min_lr)
    amp_dtype = torch.float16 if device.type == "cuda" else torch.bfloat16
    amp_ctx = (lambda: torch.autocast(device.type, dtype=amp_dtype)) if cfg.amp else nullcontext
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.amp and device.type == "cuda")

    step = 0
    ckpt_path = out_dir / CHECKPOINT_NAME
    if resume and ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)  # our own file
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        torch.set_rng_state(state["rng_states"][rank])
    history: dict[str, list] = {"val": []}
    log = None
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        log = open(out_dir / "log.jsonl", "a")
        log.write(json.dumps({"start": {"resumed_at_step": step, "world_size": world, "device": str(device),
                                        "params": frozen, "config": cfg.to_json(), "mix": mix.describe()}}) + "\n")
        log.flush()
        names = ", ".join(f"{d['name']} ({d['size']}: {mix.describe()['draws_per_pass'][d['name']]} draws)"
                          for d in mix.describe()["datasets"])
        print(f"{cfg.data_strategy} over {len(mix.sources)} datasets: {names}")
        if val_loader and step == 0:
            history["val"].append({"step": 0, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
            print(f"step 0 val {history['val'][-1]}")

    def save(epoch: int) -> None:
        states = _rng_states(world)  # collective: every rank takes part
        if rank == 0:
            save_checkpoint(ckpt_path, model, step=step, epoch=epoch, optimizer=optimizer.state_dict(),
                            scheduler=scheduler.state_dict(), scaler=scaler.state_dict(), rng_states=states,
                            config=cfg.to_json())

    start = time.time()
    progress = tqdm(total=total_steps, initial=step, disable=rank != 0, desc=f"{cfg.arch}-{cfg.size}")
    epoch = step // steps_per_epoch
    while step < total_steps:
        skip = (step - epoch * steps_per_epoch) * cfg.batch_size  # batches of this epoch already trained
        mix.set_epoch(epoch)
        indices = epoch_indices(mix, epoch, cfg.seed, world, rank)[skip: steps_per_epoch * cfg.batch_size]
        loader = DataLoader(mix, cfg.batch_size, sampler=indices, drop_last=True, num_workers=cfg.num_workers,
                            pin_memory=device.type == "cuda")
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
                          **{k: round(v.item(), 5) for k, v in losses.items()},
                          "draws": dict(sorted(Counter(batch["dataset"]).items()))}
                log.write(json.dumps(record) + "\n")
                log.flush()
                progress.set_postfix(loss=f"{record['total']:.3f}")
            if rank == 0 and val_loader and cfg.val_every and step % cfg.val_every == 0:
                history["val"].append({"step": step, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
            if cfg.save_every and step % cfg.save_every == 0:
                save(epoch)
            if exit_after_step is not None and step >= exit_after_step:  # simulate a kill (tests)
                progress.close()
                if log:
                    log.close()
                raise SystemExit(KILLED_EXIT_CODE)  # no final checkpoint, like a kill
            if step >= total_steps:
                break
        save(epoch)
        if rank == 0 and val_loader and not cfg.val_every:
            history["val"].append({"step": step, **evaluate_pve(model, val_loader, body, device, amp_ctx)})
            tqdm.write(f"epoch {epoch} step {step} val {history['val'][-1]}")
        epoch += 1
    progress.close()
    spread = _rank_param_spread(model, world)
    history["rank_param_spread"] = spread
    if rank == 0:
        log.write(json.dumps({"final_val": history["val"], "step": step, "world_size": world,
                              "rank_param_spread": spread}) + "\n")
        log.close()
    if world > 1:
        dist.destroy_process_group()
    return history


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="config name in reference_models/configs/ or a JSON path")
    parser.add_argument("--max-steps", type=int, help="override the config's step budget")
    parser.add_argument("--out-dir", help="override the config's out_dir")
    parser.add_argument("--resume", action="store_true", help=f"continue from out_dir/{CHECKPOINT_NAME} if present")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                        help="override a config value, e.g. --set batch_size=8 --set save_every=2")
    parser.add_argument("--exit-after-step", type=int, help=argparse.SUPPRESS)  # tests: die like a killed run
    args = parser.parse_args(argv)
    cfg = TrainConfig.load(args.config)
    for item in args.set:
        key, _, value = item.partition("=")
        if not hasattr(cfg, key):
            parser.error(f"--set: unknown config key {key!r}")
        setattr(cfg, key, json.loads(value))
    if args.max_steps:
        cfg.max_steps = args.max_steps
    if args.out_dir:
        cfg.out_dir = args.out_dir
    if "LOCAL_WORLD_SIZE" not in os.environ:
        torch.set_num_threads(max(1, (os.cpu_count() or 1)))
    np.seterr(all="ignore")
    train(cfg, resume=args.resume, exit_after_step=args.exit_after_step)


if __name__ == "__main__":
    main()
