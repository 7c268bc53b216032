"""Evaluate one checkpoint on many image benchmarks at once and print per-benchmark errors and MPE.

    python -m reference_models.test CKPT --benchmarks all            # every benchmark this host has images for
    python -m reference_models.test CKPT --benchmarks demo-images,x  # some of them, by slug
    python -m reference_models.test CKPT --image-benchmark DIR ...   # folders in evaluator.image_benchmark's layout
    python -m reference_models.test W.pth.tar --arch smpler_x --size H --benchmarks all   # official weights

Scoring goes through ``reference_models.evaluate`` (the evaluator's protocols, as the server). ``--benchmarks``
reads the host's benchmarks from the leaderboard database (Django settings from the environment): each one with
held-out images, scored by its own protocol, options and primary metric. ``--json FILE`` writes the report.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from .evaluate import BenchmarkTarget, EvaluationReport, evaluate


def code_commit() -> str:
    """The git commit of this checkout ('' when not a git checkout); ``EHPS_CODE_COMMIT`` overrides it."""
    if os.environ.get("EHPS_CODE_COMMIT"):
        return os.environ["EHPS_CODE_COMMIT"]
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True,
                             timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def code_url() -> str:
    """The public repository of this code (``EHPS_CODE_URL``; '' when not set): the code URL of computed rows."""
    return os.environ.get("EHPS_CODE_URL", "")


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
    import django
    from django.apps import apps

    if not apps.ready:  # a second setup() would re-run LOGGING's dictConfig onto whatever sys.stderr is now
        django.setup()


def host_targets(slugs: list[str] | None) -> list[BenchmarkTarget]:
    """The host's benchmarks with held-out images (all, or the named slugs), as evaluation targets."""
    from leaderboard.submissions.baselines import host_benchmark_targets

    return host_benchmark_targets(slugs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("--benchmarks", help="'all' or comma-separated slugs of this host's benchmarks")
    parser.add_argument("--image-benchmark", type=Path, action="append", default=[], metavar="DIR")
    parser.add_argument("--arch", help="official weights: smpler_x or smplest_x")
    parser.add_argument("--size", help="official weights: S, B, L or H")
    parser.add_argument("--model-dir", help="SMPL-X model folder (default: $SMPLX_MODEL_DIR or the evaluator's)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--json", type=Path, help="write the report (with checkpoint sha256 and code commit) here")
    args = parser.parse_args(argv)
    if not args.benchmarks and not args.image_benchmark:
        parser.error("name --benchmarks or at least one --image-benchmark")
    _setup_django()  # the checkpoint loader and the host's benchmarks live in the leaderboard package
    from evaluator.assets import default_model_dir
    from leaderboard.submissions.baselines import BaselineError, load_reference_model

    try:
        loaded = load_reference_model(args.checkpoint, args.arch, args.size)
        targets = [BenchmarkTarget.image_benchmark(d) for d in args.image_benchmark]
        if args.benchmarks:
            targets += host_targets(None if args.benchmarks == "all" else args.benchmarks.split(","))
    except BaselineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not targets:
        print("error: no benchmark with held-out images to evaluate on", file=sys.stderr)
        return 2
    model_dir = args.model_dir or default_model_dir()
    report: EvaluationReport = evaluate(loaded.model, targets, model_dir, args.batch_size, args.device)
    print(f"{loaded.arch}-{loaded.size} sha256 {loaded.sha256}")
    print(report.table())
    if args.json:
        args.json.write_text(json.dumps({"checkpoint_sha256": loaded.sha256, "arch": loaded.arch, "size": loaded.size,
                                         "code_commit": code_commit(), **report.to_json()}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
