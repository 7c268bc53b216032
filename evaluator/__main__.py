"""``python -m evaluator {score,check,make-synthetic-model,make-demo-benchmark}``."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .assets import default_model_dir


def _parse_options(items: list[str]) -> dict:
    """``key=value`` pairs; values are JSON when they parse (20, true, null), else strings."""
    options = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--option {item!r}: expected key=value")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _write_per_sample(path: Path, rows: dict) -> None:
    import numpy as np

    np.savez(path, sample_ids=rows["sample_id"], splits=rows["split"],
             **{k: np.asarray(v, dtype=np.float64) for k, v in rows.items() if k not in ("sample_id", "split")})


def _score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .chunk_threads import usable_cpus
    from .formats import FormatError
    from .metric_sums import MetricSums
    from .protocols import get_protocol, load_protocol_models

    try:
        protocol = get_protocol(args.protocol, _parse_options(args.option))
        gt = protocol.load_gt(args.gt)
        pred = protocol.load_predictions(args.pred, gt)  # multi-person: people of whole images
        if args.per_sample and not protocol.per_sample_rows:
            raise ValueError(f"protocol {protocol.name} keeps no per-sample values (its results are aggregates)")
        models = load_protocol_models(protocol, args.model_dir, device=args.device)
        threads = args.threads or (1 if args.device != "cpu" else usable_cpus())
        with tqdm(total=len(gt.sample_ids), unit="sample", disable=args.quiet) as bar:
            progress = lambda done, total: bar.update(done - bar.n)  # noqa: E731
            if args.per_sample:
                rows = protocol.per_sample(models, gt, pred, chunk_size=args.chunk_size, progress=progress,
                                           threads=threads)
                sums: dict[str, MetricSums] = {}
                for split in sorted(set(rows["split"].tolist())):
                    mask = rows["split"] == split
                    sums[split] = MetricSums.empty(protocol.metrics).add({k: rows[k][mask] for k in protocol.metrics})
                _write_per_sample(args.per_sample, rows)
            else:
                sums = protocol.score(models, gt, pred, chunk_size=args.chunk_size, progress=progress, threads=threads)
    except (FormatError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sums["all"] = MetricSums.merge_all(sums.values())
    splits = sorted(k for k in sums if k != "all") + ["all"]
    means = {s: protocol.summarize(sums[s]) for s in splits}  # the stored figures (the means, for per-crop protocols)
    labels = protocol.result_labels()
    width = max(len(m.label) for m in labels.values())
    print(f"protocol {protocol.name} v{protocol.version} {protocol.options}")
    print(f"{'metric (mm)':<{width}} " + " ".join(f"{s:>10}" for s in splits))
    for key, label in labels.items():
        row = " ".join(f"{means[s][key]:>10.2f}" if means[s].get(key) is not None else f"{'n/a':>10}" for s in splits)
        print(f"{label.label:<{width}} {row}")
    print(f"{'samples':<{width}} " + " ".join(f"{sums[s].num_samples:>10d}" for s in splits))
    if args.json:
        from . import __version__

        report = {"gt": str(args.gt), "pred": str(args.pred), "model_dir": str(models.smplx.model_dir),
                  "evaluator_version": __version__, "protocol": protocol.describe(),
                  "splits": {s: {"num_samples": sums[s].num_samples, "means": means[s], **sums[s].to_dict()}
                             for s in splits}}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def _check(args: argparse.Namespace) -> int:
    """The light client's checker (``ehps check``, ehps_client.check): one implementation for both commands."""
    from ehps_client.check import run_check
    from ehps_client.config import DEFAULT_URL

    server = args.server or os.environ.get("EHPS_SERVER") or os.environ.get("EHPS_URL") or DEFAULT_URL
    return run_check(args.pred, [args.benchmark] if args.benchmark else [], args.sample_ids, server,
                     say=print, complain=lambda line: print(line, file=sys.stderr))


def _make_model(args: argparse.Namespace) -> int:
    from .synthetic_model import make_synthetic_model

    print(make_synthetic_model(args.out, seed=args.seed))
    return 0


def _make_demo(args: argparse.Namespace) -> int:
    from .demo import make_demo_benchmark

    for path in make_demo_benchmark(args.out, num_samples=args.samples, seed=args.seed):
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m evaluator", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("score", help="score predictions against ground truth")
    p.add_argument("--gt", required=True, type=Path)
    p.add_argument("--pred", required=True, type=Path)
    p.add_argument("--model-dir", type=Path, default=default_model_dir(),
                   help="SMPL-X model dir (default: $SMPLX_MODEL_DIR or var/smplx_synthetic)")
    p.add_argument("--json", type=Path, help="write means and sums per split here")
    p.add_argument("--per-sample", type=Path, metavar="FILE.npz",
                   help="write every metric per sample (sample_ids, splits, one float64 array per metric; NaN = no value)")
    p.add_argument("--protocol", default="smplx-generic", help="evaluation protocol (see docs/metrics.md)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE", help="protocol option, repeatable")
    p.add_argument("--chunk-size", type=int, default=64, help="samples per chunk (64: fastest on CPU in bench/bench_evaluator.py)")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--threads", type=_non_negative, default=0,
                   help="chunks scored at a time, torch on one thread each (default 0: one per usable CPU; 1 on cuda)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_score)
    p = sub.add_parser("check", help="validate a predictions .npz or .zip offline (no ground truth needed; `ehps check`)")
    p.add_argument("pred", type=Path)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--benchmark", metavar="SLUG", help="check ids against this benchmark's public sample-id list "
                       "(./SLUG-sample_ids.txt when present, else fetched from --server)")
    group.add_argument("--sample-ids", type=Path, metavar="FILE", help="one expected sample id a line")
    p.add_argument("--server", help="leaderboard URL for --benchmark (default $EHPS_SERVER or http://127.0.0.1:8000)")
    p.set_defaults(func=_check)
    p = sub.add_parser("make-synthetic-model", help="write a synthetic SMPL-X + SMPL model dir")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_make_model)
    p = sub.add_parser("make-demo-benchmark", help="write a synthetic gt.npz and pred.npz")
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--samples", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=_make_demo)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
