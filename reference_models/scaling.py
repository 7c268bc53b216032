"""A miniature of the SMPLest-X / SMPLer-X data-scaling study on synthetic "datasets".

    python -m reference_models.scaling [--out-dir D] [--steps 120] [--per-dataset] [--docs docs]

Four synthetic training sets of deliberately different domains (camera distance, viewpoint, pose and shape
spread, hands labelled or not; ``DOMAINS``) are rendered once. The tiny SMPLer-X is trained on the first 1, 2
and 4 of them under both ``data_strategy`` values (``balance``, ``concat``; identical for one dataset) with two
seeds, every run with the same step and batch budget, and each checkpoint is scored through the evaluator
(``reference_models.evaluate``) on five held-out image benchmarks: one test set per domain plus the renderer of
the board's demo image benchmark (``evaluator.image_benchmark``); MPE is their unweighted mean primary error
(PVE, ``smplx-generic``). ``--per-dataset`` also trains on each domain alone and ranks the domains by MPE, as
the paper ranks its 40 datasets. Results: ``scaling.json`` in the output folder, and with ``--docs`` a table
(``reference_models_scaling.md``) and a plot (``reference_models_scaling.svg``). Checkpoints stay in the output
folder (``runs/<name>/last.pth``); ``--submit`` (or ``manage.py submit_scaling_runs``) puts each run on the board as a
computed baseline row with its provenance.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .config import TrainConfig
from .evaluate import BenchmarkTarget, evaluate

# name -> synthetic.Domain fields: each "dataset" covers a different slice of people and cameras
DOMAINS: dict[str, dict] = {
    "near-frontal": {"yaw_deg": 20, "fill": [0.75, 0.9], "pose_sigma": 0.2, "shape_sigma": 0.5},
    "far-side": {"yaw_deg": 90, "fill": [0.35, 0.5], "pose_sigma": 0.3, "shape_sigma": 1.0},
    "wild-pose-no-hands": {"yaw_deg": 60, "fill": [0.55, 0.8], "pose_sigma": 0.6, "shape_sigma": 1.0, "hands": False},
    "heavy-shape": {"yaw_deg": 45, "fill": [0.6, 0.8], "pose_sigma": 0.3, "shape_sigma": 2.0},
}
DATASET_COUNTS = (1, 2, 4)
STRATEGIES = ("balance", "concat")
SEEDS = (0, 1)
DEMO_RENDERER = "demo-image-renderer"


@dataclass
class Grid:
    out_dir: Path
    steps: int = 120
    batch_size: int = 16
    train_images: int = 128
    test_images: int = 40
    seeds: tuple[int, ...] = SEEDS

    @property
    def model_dir(self) -> Path:
        return self.out_dir / "smplx_synthetic"


def prepare(grid: Grid) -> list[BenchmarkTarget]:
    """The SMPL-X model, the training renders (made on first use by the trainer) and the test benchmarks."""
    from evaluator.image_benchmark import make_image_benchmark
    from evaluator.synthetic_model import make_synthetic_model
    from .data.synthetic import make_synthetic_image_set

    if not (grid.model_dir / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        make_synthetic_model(grid.model_dir)
    targets = []
    for i, (name, domain) in enumerate(DOMAINS.items()):
        folder = grid.out_dir / "test" / name
        if not (folder / "manifest.json").is_file():
            make_synthetic_image_set(folder, grid.model_dir, grid.test_images, seed=1000 + i, progress=False, domain=domain)
        targets.append(BenchmarkTarget(name, folder, folder / "gt.npz"))
    demo = grid.out_dir / "test" / DEMO_RENDERER
    if not (demo / "gt.npz").is_file():
        make_image_benchmark(demo, grid.model_dir, grid.test_images, seed=2000)
    targets.append(BenchmarkTarget.image_benchmark(demo, DEMO_RENDERER))
    return targets


def run_config(grid: Grid, datasets: list[str], strategy: str, seed: int) -> TrainConfig:
    train = [{"type": "synthetic", "path": str(grid.out_dir / "train" / name), "name": name, "num": grid.train_images,
              "seed": 100 + list(DOMAINS).index(name), "domain": DOMAINS[name]} for name in datasets]
    name = f"n{len(datasets)}-{strategy}-s{seed}" if len(datasets) > 1 else f"only-{datasets[0]}-s{seed}"
    return TrainConfig(arch="smpler_x", size="tiny", model_dir=str(grid.model_dir), train=train,
                       data_strategy=strategy, total_data_len=grid.steps * grid.batch_size,
                       out_dir=str(grid.out_dir / "runs" / name), batch_size=grid.batch_size, max_steps=grid.steps,
                       lr=1e-3, min_lr=1e-5, amp=False, num_workers=0, seed=seed, log_every=20)


def train_and_score(grid: Grid, cfg: TrainConfig, targets: list[BenchmarkTarget]) -> dict:
    from .train import train

    ckpt = Path(cfg.out_dir) / "last.pth"
    if not ckpt.is_file():
        start = time.time()
        train(cfg)
        print(f"trained {Path(cfg.out_dir).name} in {time.time() - start:.0f} s", flush=True)
    model, _ = load_checkpoint(ckpt)
    report = evaluate(model, targets, grid.model_dir, batch_size=32)
    return {"run": Path(cfg.out_dir).name, "checkpoint": str(ckpt), "datasets": [e["name"] for e in cfg.train],
            "strategy": cfg.data_strategy, "seed": cfg.seed, "mpe": report.mpe,
            "errors": {s.name: s.primary for s in report.scores}, "evaluator_version": report.evaluator_version}


def run_grid(grid: Grid, per_dataset: bool = False) -> dict:
    grid.out_dir.mkdir(parents=True, exist_ok=True)
    targets = prepare(grid)
    names = list(DOMAINS)
    rows = []
    for count in DATASET_COUNTS:
        for strategy in STRATEGIES if count > 1 else STRATEGIES[:1]:
            for seed in grid.seeds:
                rows.append(train_and_score(grid, run_config(grid, names[:count], strategy, seed), targets))
    single = []
    if per_dataset:
        for name in names:
            single.append(train_and_score(grid, run_config(grid, [name], STRATEGIES[0], grid.seeds[0]), targets))
    result = {"grid": {"steps": grid.steps, "batch_size": grid.batch_size, "train_images": grid.train_images,
                       "test_images": grid.test_images, "seeds": list(grid.seeds), "domains": DOMAINS,
                       "benchmarks": [t.name for t in targets]},
              "runs": rows, "per_dataset": single}
    (grid.out_dir / "scaling.json").write_text(json.dumps(result, indent=1))
    return result


def summary(result: dict) -> dict[str, dict[int, tuple[float, float]]]:
    """strategy -> number of datasets -> (mean MPE over seeds, spread half-range)."""
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for strategy in STRATEGIES:
        for count in DATASET_COUNTS:
            mpes = [r["mpe"] for r in result["runs"] if len(r["datasets"]) == count
                    and (r["strategy"] == strategy or count == 1)]
            if mpes:
                out.setdefault(strategy, {})[count] = (statistics.mean(mpes), (max(mpes) - min(mpes)) / 2)
    return out


def markdown(result: dict, seconds: float | None = None) -> str:
    g = result["grid"]
    benches = g["benchmarks"]
    lines = ["# Scaling study in miniature (generated by `python -m reference_models.scaling`)", "",
             f"SMPLer-X tiny, {g['steps']} steps × batch {g['batch_size']} per run (same budget for every run), "
             f"{g['train_images']} rendered training images per domain, {g['test_images']} test images per benchmark, "
             f"seeds {g['seeds']}. Errors: PVE (mm, `smplx-generic`, through the evaluator); MPE = their mean."
             + (f" Whole grid: {seconds / 60:.1f} min on the 2-core development machine." if seconds else ""), "",
             "## MPE vs number of datasets (mean over seeds ± half-range)", "",
             "| datasets | " + " | ".join(STRATEGIES) + " |", "|---|" + "---|" * len(STRATEGIES)]
    summ = summary(result)
    for count in DATASET_COUNTS:
        cells = [f"{summ[s][count][0]:.1f} ± {summ[s][count][1]:.1f}" if count in summ.get(s, {}) else "–"
                 for s in STRATEGIES]
        lines.append(f"| {count} | " + " | ".join(cells) + " |")
    lines += ["", "## Every run", "", "| run | datasets | strategy | seed | " + " | ".join(benches) + " | MPE |",
              "|---|---|---|---|" + "---|" * (len(benches) + 1)]
    for r in result["runs"] + result["per_dataset"]:
        errs = " | ".join(f"{r['errors'][b]:.1f}" for b in benches)
        lines.append(f"| {r['run']} | {', '.join(r['datasets'])} | {r['strategy']} | {r['seed']} | {errs} | {r['mpe']:.1f} |")
    if result["per_dataset"]:
        lines += ["", "## Datasets ranked by MPE when trained on alone (`--per-dataset`)", "",
                  "| rank | dataset | MPE |", "|---|---|---|"]
        ranked = sorted(result["per_dataset"], key=lambda r: r["mpe"])
        lines += [f"| {i} | {r['datasets'][0]} | {r['mpe']:.1f} |" for i, r in enumerate(ranked, 1)]
    return "\n".join(lines) + "\n"


def svg_plot(result: dict, width: int = 480, height: int = 300) -> str:
    """MPE vs number of datasets, one line per strategy (one model size: tiny)."""
    summ = summary(result)
    values = [m + d for s in summ.values() for m, spread in s.values() for d in (-spread, spread)]
    lo, hi = min(values), max(values)
    pad = max((hi - lo) * 0.15, 1.0)
    lo, hi = lo - pad, hi + pad
    left, right, top, bottom = 60, 20, 30, 40
    x = lambda c: left + (DATASET_COUNTS.index(c)) / (len(DATASET_COUNTS) - 1) * (width - left - right)  # noqa: E731
    y = lambda v: top + (hi - v) / (hi - lo) * (height - top - bottom)  # noqa: E731
    colours = {"balance": "#1f77b4", "concat": "#d62728"}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
             f'<text x="{width / 2}" y="18" text-anchor="middle">SMPLer-X tiny: MPE (mm) vs number of datasets</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>']
    for c in DATASET_COUNTS:
        parts.append(f'<text x="{x(c)}" y="{height - bottom + 16}" text-anchor="middle">{c}</text>')
    for i in range(5):
        v = lo + (hi - lo) * i / 4
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4}" text-anchor="end">{v:.0f}</text>')
    for k, (strategy, points) in enumerate(summ.items()):
        pts = " ".join(f"{x(c):.1f},{y(m):.1f}" for c, (m, _) in sorted(points.items()))
        parts.append(f'<polyline points="{pts}" fill="none" stroke="{colours[strategy]}" stroke-width="2"/>')
        for c, (m, spread) in points.items():
            parts.append(f'<line x1="{x(c):.1f}" y1="{y(m - spread):.1f}" x2="{x(c):.1f}" y2="{y(m + spread):.1f}" '
                         f'stroke="{colours[strategy]}"/>')
            parts.append(f'<circle cx="{x(c):.1f}" cy="{y(m):.1f}" r="3" fill="{colours[strategy]}"/>')
        parts.append(f'<text x="{width - right - 70}" y="{top + 14 + 14 * k}" fill="{colours[strategy]}">{strategy}</text>')
    parts.append(f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle">training datasets (domains)</text>')
    return "\n".join(parts) + "\n</svg>\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out-dir", default="var/reference_models/scaling")
    parser.add_argument("--steps", type=int, default=Grid.steps)
    parser.add_argument("--batch-size", type=int, default=Grid.batch_size)
    parser.add_argument("--train-images", type=int, default=Grid.train_images)
    parser.add_argument("--test-images", type=int, default=Grid.test_images)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--per-dataset", action="store_true", help="also train on each dataset alone and rank them")
    parser.add_argument("--docs", type=Path, help="write reference_models_scaling.{md,svg} into this folder")
    parser.add_argument("--submit", action="store_true", help="then put every run on the board as a computed baseline "
                        "(manage.py submit_scaling_runs; the leaderboard database from the environment)")
    parser.add_argument("--owner", help="with --submit: the username to submit as (a staff account has no quotas)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    grid = Grid(Path(args.out_dir), args.steps, args.batch_size, args.train_images, args.test_images, tuple(args.seeds))
    start = time.time()
    result = run_grid(grid, args.per_dataset)
    seconds = time.time() - start
    text = markdown(result, seconds)
    print(text)
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        (args.docs / "reference_models_scaling.md").write_text(text)
        (args.docs / "reference_models_scaling.svg").write_text(svg_plot(result))
    if args.submit:
        submit_runs(grid.out_dir, args.owner)


def submit_runs(out_dir: Path, owner: str | None = None) -> None:
    """``manage.py submit_scaling_runs`` on this study (Django set up from the environment, as reference_models.test)."""
    from django.core.management import call_command

    from .test import _setup_django

    _setup_django()
    call_command("submit_scaling_runs", "--scaling-dir", str(out_dir), *(["--owner", owner] if owner else []))


if __name__ == "__main__":
    main()
