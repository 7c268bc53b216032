"""Hand-run benchmark: full metric suite from SMPL-X params, batched torch vs a per-sample
NumPy loop in the style of the reference evaluators (B=1 smplx forward + float64 NumPy metrics).

    .venv/bin/python bench/bench_evaluator.py [--samples 2048] [--loop-samples 200] [--threads 2]
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "evaluator")]

import numpy_reference as ref  # noqa: E402

from evaluator.body_model import load_body_model  # noqa: E402
from evaluator.demo import make_demo_benchmark  # noqa: E402
from evaluator.formats import load_sample_set, match_samples  # noqa: E402
from evaluator.metrics import compute_metrics  # noqa: E402
from evaluator.scoring import score_samples  # noqa: E402
from evaluator.synthetic_model import make_synthetic_model  # noqa: E402


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def reference_loop(model, gt, pred, pred_index, n: int) -> tuple[float, float]:
    """Seconds per sample for the per-sample loop over the first n GT samples: (whole loop, metrics alone)."""
    a = model.assets
    J, J14 = model.J_regressor.double().numpy(), a.j14_regressor.double().numpy()
    HR_l, HR_r = ref.make_hand_regressor(J, "left"), ref.make_hand_regressor(J, "right")
    ids = [x.numpy() for x in (a.left_hand, a.right_hand, a.face)]
    metrics_s = 0.0
    start = time.perf_counter()
    for i in range(n):
        G = model.vertices(gt.take(np.array([i])), chunk_size=1)[0].numpy()
        M = model.vertices(pred.take(pred_index[i: i + 1]), chunk_size=1)[0].numpy()
        tick = time.perf_counter()
        ref.evaluate_sample(M, G, J, J14, HR_l, HR_r, *ids)
        metrics_s += time.perf_counter() - tick
    return (time.perf_counter() - start) / n, metrics_s / n


def batched_metrics_only(model, gt, pred, pred_index, chunk_size: int) -> float:
    """Seconds per sample for the batched metrics alone, meshes computed beforehand (outside the timer)."""
    total, n = 0.0, len(gt)
    with torch.inference_mode():
        for start in range(0, n, chunk_size):
            index = np.arange(start, min(start + chunk_size, n))
            G = model.vertices(gt.take(index), chunk_size=chunk_size)
            M = model.vertices(pred.take(pred_index[index]), chunk_size=chunk_size)
            tick = time.perf_counter()
            compute_metrics(M, G, model.assets, inplace=True)
            total += time.perf_counter() - tick
    return total / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--loop-samples", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        model = load_body_model(make_synthetic_model(Path(tmp) / "model"))
        gt_path, pred_path = make_demo_benchmark(Path(tmp) / "demo", args.samples, seed=0)
        gt, pred = load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)
        pred_index = match_samples(gt, pred)
        score_samples(model, gt, pred, gt_index=np.arange(32), chunk_size=32)  # warm-up
        rss_before = peak_rss_gb()
        start = time.perf_counter()
        score_samples(model, gt, pred, chunk_size=args.chunk_size)
        batched = time.perf_counter() - start
        rss_batched = peak_rss_gb()
        metrics_only = batched_metrics_only(model, gt, pred, pred_index, args.chunk_size)
        per_sample, ref_metrics_only = reference_loop(model, gt, pred, pred_index, min(args.loop_samples, args.samples))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, chunk {args.chunk_size}")
    print(f"batched torch : {args.samples} samples in {batched:.2f} s = {args.samples / batched:,.0f} samples/s "
          f"({1000 * batched / args.samples:.2f} ms/sample)")
    print(f"per-sample ref: {1000 * per_sample:.2f} ms/sample = {1 / per_sample:,.0f} samples/s "
          f"(measured on {min(args.loop_samples, args.samples)} samples)")
    print(f"speed-up      : {per_sample * args.samples / batched:.1f}x")
    print(f"metrics alone : batched {1000 * metrics_only:.3f} ms/sample vs per-sample NumPy "
          f"{1000 * ref_metrics_only:.2f} ms/sample = {ref_metrics_only / metrics_only:.1f}x (meshes given)")
    print(f"peak RSS      : {rss_before:.2f} GB before scoring, {rss_batched:.2f} GB after batched scoring")


if __name__ == "__main__":
    main()
