"""``python -m evaluator {score,make-synthetic-model,make-demo-benchmark}``."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .assets import default_model_dir


def _score(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from .body_model import load_body_model
    from .formats import FormatError, load_sample_set
    from .metrics import METRIC_LABELS, METRICS, MetricSums
    from .scoring import score_samples

    try:
        gt = load_sample_set(args.gt, role="gt")
        pred = load_sample_set(args.pred, role="pred")
        model = load_body_model(args.model_dir, device=args.device)
        with tqdm(total=len(gt), unit="sample", disable=args.quiet) as bar:
            sums = score_samples(model, gt, pred, chunk_size=args.chunk_size,
                                 progress=lambda done, total: bar.update(done - bar.n))
    except (FormatError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sums["all"] = MetricSums.merge_all(sums.values())
    splits = sorted(k for k in sums if k != "all") + ["all"]
    means = {s: sums[s].means() for s in splits}
    width = max(len(v.label) for v in METRIC_LABELS.values())
    print(f"{'metric (mm)':<{width}} " + " ".join(f"{s:>10}" for s in splits))
    for key in METRICS:
        row = " ".join(f"{means[s][key]:>10.2f}" for s in splits)
        print(f"{METRIC_LABELS[key].label:<{width}} {row}")
    print(f"{'samples':<{width}} " + " ".join(f"{sums[s].num_samples:>10d}" for s in splits))
    if args.json:
        report = {"gt": str(args.gt), "pred": str(args.pred), "model_dir": str(model.model_dir),
                  "splits": {s: {"num_samples": sums[s].num_samples, "means": means[s], **sums[s].to_dict()}
                             for s in splits}}
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


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
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_score)
    p = sub.add_parser("make-synthetic-model", help="write a synthetic SMPL-X model dir")
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
