"""Hand-run benchmark of the evaluator (issue 14 targets), every figure measured side by side in one run.

- full suite from SMPL-X params (smplx-generic protocol, batched, lean forward), with the GT meshes
  computed per submission ("cold") and read from the stored GT mesh cache ("cached", the normal case);
- a per-sample loop in the style of the official evaluate: B=1 smplx forward for GT and prediction,
  then per-sample float64 NumPy metrics (tests/evaluator/numpy_reference.py, written from
  docs/metrics.md / the reference-evaluation spec);
- the metrics alone on given meshes, batched vs that per-sample NumPy code;
- the compute floor: 108 MFLOP per sample (GT + prediction forward, issue 14's count) at the SGEMM
  rate measured here at the same thread count;
- peak memory of a worker scoring one shard of benchmarks of 10k, 50k and 100k samples (fresh process each).

Each side runs at every thread count in ``--threads`` and the ratios use each side's best; every figure is
the best of ``--repeats`` interleaved rounds. The batched side runs each count t > 1 two ways: as torch's
intra-op threads ("t torch") and as t chunks scored at a time, torch on one thread each ("t chunks",
evaluator.chunk_threads, the CLI's default); the per-sample loop has no chunks and runs as "t torch" only.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        .venv/bin/python bench/bench_evaluator.py [--samples 1024] [--loop-samples 48] [--threads 1,2]

The environment puts the NumPy loop at its best: some hosts pin OpenBLAS to an older kernel
(OPENBLAS_CORETYPE), 1.5x slower here, and a second OpenBLAS thread gains nothing on these
per-sample matrices but stalls whenever another process holds a core. The header prints the values.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
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
from evaluator.chunk_threads import map_chunks  # noqa: E402
from evaluator.formats import load_sample_set, match_samples  # noqa: E402
from evaluator.gt_meshes import GtMeshCache  # noqa: E402
from evaluator.meshes import smplx_meshes  # noqa: E402
from evaluator.metrics import compute_metrics  # noqa: E402
from evaluator.protocols import get_protocol  # noqa: E402
from evaluator.synthetic_model import make_synthetic_model  # noqa: E402
from workers.synthetic import noisy_predictions, synthetic_gt, write_npz  # noqa: E402

FLOOR_MFLOP_PER_SAMPLE = 108.0  # GT + prediction SMPL-X forward (issue 14: 54 MFLOP each)
PROTOCOL = get_protocol("smplx-generic")


def timed(fn, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def sgemm_gflops() -> float:
    """Best-of-3 SGEMM rate at the current thread count, on the blend GEMM's shape (256 x 506 x 31425)."""
    a, b = torch.randn(256, 506), torch.randn(506, 31425)
    a @ b
    return 2 * 256 * 506 * 31425 / timed(lambda: a @ b, 3) / 1e9


def official_style_loop(model, gt, pred, pred_index, n: int) -> tuple[float, float]:
    """Seconds per sample of the per-sample loop (whole loop, metrics alone) over the first n GT rows."""
    a = model.assets
    J, J14 = model.J_regressor.double().numpy(), a.j14_regressor.double().numpy()
    HR_l, HR_r = ref.make_hand_regressor(J, "left"), ref.make_hand_regressor(J, "right")
    ids = [x.numpy() for x in (a.left_hand, a.right_hand, a.face)]
    metrics_s = 0.0
    start = time.perf_counter()
    for i in range(n):
        # (V, 3) C-ordered float64, as smplx's output.vertices[0] becomes in the official code
        G = np.ascontiguousarray(model.vertices(gt.take(np.array([i])), chunk_size=1, reference=True)[0].double().numpy())
        M = np.ascontiguousarray(model.vertices(pred.take(pred_index[i: i + 1]), chunk_size=1, reference=True)[0]
                                 .double().numpy())
        tick = time.perf_counter()
        ref.evaluate_sample(M, G, J, J14, HR_l, HR_r, *ids)
        metrics_s += time.perf_counter() - tick
    return (time.perf_counter() - start) / n, metrics_s / n


def batched_metrics_only(model, gt, pred, pred_index, chunk_size: int, chunk_threads: int) -> float:
    """Seconds per sample of the batched metrics alone on meshes built beforehand (outside the timer), the
    chunks run as in scoring: one after the other, or ``chunk_threads`` at a time (evaluator.chunk_threads)."""
    n = len(gt)
    with torch.inference_mode():
        chunks = [(smplx_meshes(model, pred, pred_index[index]), smplx_meshes(model, gt, index))
                  for index in (np.arange(start, min(start + chunk_size, n)) for start in range(0, n, chunk_size))]

    def metrics(pair) -> None:
        with torch.inference_mode():
            compute_metrics(*pair, model.assets, inplace=True)

    tick = time.perf_counter()
    for _ in map_chunks(metrics, chunks, chunk_threads):
        pass
    return (time.perf_counter() - tick) / n


def write_benchmark(folder: Path, n: int) -> tuple[Path, Path]:
    gt = synthetic_gt(n, seed=0, splits=("test", "dev"))
    return write_npz(folder / f"gt_{n}.npz", gt), write_npz(folder / f"pred_{n}.npz", noisy_predictions(gt))


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak since reset), MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def memory_probe(model_dir: str, gt_path: str, pred_path: str, shard: int, chunk: int) -> None:
    """(Run in a fresh process.) Load, match and score the first ``shard`` samples as a worker does; print
    the resident memory with the body model loaded and the peak while loading the files and scoring
    (the peak is reset after the model load, whose float64 build temporaries would otherwise hide it)."""
    torch.set_num_threads(1)
    model = load_body_model(model_dir)
    load_peak = _status_mb("VmHWM")
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # Linux: reset VmHWM to the current RSS
    base = _status_mb("VmRSS")
    gt, pred = load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)
    index = match_samples(gt, pred)
    gt = gt.with_mesh_cache(GtMeshCache(model, gt, gt_path))
    PROTOCOL.score(model, gt, pred, np.arange(shard), index[:shard], chunk_size=chunk)
    print(json.dumps({"peak_mb": _status_mb("VmHWM"), "model_mb": base, "load_peak_mb": load_peak}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--loop-samples", type=int, default=48)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts to try for each side")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per thread count; each figure is its best")
    parser.add_argument("--memory-sizes", default="10000,50000,100000", help="benchmark sizes for peak memory ('' skips)")
    parser.add_argument("--memory-shard", type=int, default=2048, help="samples a worker scores per shard")
    parser.add_argument("--probe", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe:
        memory_probe(args.probe[0], args.probe[1], args.probe[2], int(args.probe[3]), int(args.probe[4]))
        return
    threads = [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        model_dir = make_synthetic_model(tmp / "model")
        model = load_body_model(model_dir)
        gt_path, pred_path = write_benchmark(tmp, args.samples)
        gt, pred = load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)
        pred_index = match_samples(gt, pred)
        cache = GtMeshCache(model, gt, gt_path)
        build_s = timed(cache.build_all)
        gt_cached = gt.with_mesh_cache(cache)
        n, n_loop = args.samples, min(args.loop_samples, args.samples)
        rows = []
        # Each thread count t runs as torch's intra-op threads ("t torch") and, for t > 1, as t chunks
        # scored at a time with torch on one thread each ("t chunks", how python -m evaluator runs).
        configs = [(t, mode) for t in threads for mode in (("torch", "chunks") if t > 1 else ("torch",))]
        gflops: dict[int, float] = {}
        for t, mode in configs:
            torch.set_num_threads(t if mode == "torch" else 1)
            chunk_threads = t if mode == "chunks" else 1
            PROTOCOL.score(model, gt, pred, np.arange(64), pred_index[:64], chunk_size=args.chunk_size)  # warm-up
            row = {"threads": t, "mode": mode, "cold": 0.0, "cached": 0.0, "loop": 0.0, "metrics": 0.0,
                   "loop_metrics": 0.0}
            # Best of --repeats rounds, the sides interleaved within each round, so a burst of other work on
            # the machine slows one round of every side rather than one side's only measurement. The
            # per-sample loop has no chunks: it runs in the torch rows only.
            for _ in range(args.repeats):
                cold = timed(lambda: PROTOCOL.score(model, gt, pred, None, pred_index, args.chunk_size,
                                                    threads=chunk_threads))
                cached = timed(lambda: PROTOCOL.score(model, gt_cached, pred, None, pred_index, args.chunk_size,
                                                      threads=chunk_threads))
                loop, loop_metrics = (official_style_loop(model, gt, pred, pred_index, n_loop) if mode == "torch"
                                      else (float("inf"), float("inf")))
                metrics = batched_metrics_only(model, gt, pred, pred_index, args.chunk_size, chunk_threads)
                for key, value in (("cold", n / cold), ("cached", n / cached), ("loop", 1 / loop),
                                   ("metrics", 1 / metrics), ("loop_metrics", 1 / loop_metrics)):
                    row[key] = max(row[key], value)
                if mode == "torch":
                    gflops[t] = max(gflops.get(t, 0.0), sgemm_gflops())
            rows.append(row)
        memory = []
        for size in [int(s) for s in args.memory_sizes.split(",") if s]:
            gp, pp = write_benchmark(tmp, size)
            shard = min(args.memory_shard, size)
            # GT meshes are built at import, not by the scoring worker: build the shards the probe reads
            GtMeshCache(model, load_sample_set(gp, role="gt"), gp).build_all(rows=shard)
            out = subprocess.run([sys.executable, __file__, "--probe", str(model_dir), str(gp), str(pp),
                                  str(shard), str(args.chunk_size)],
                                 capture_output=True, text=True, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            memory.append((size, json.loads(out.stdout.strip().splitlines()[-1])))
            for p in (gp, pp):
                p.unlink()

    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
          f"{n} samples (loop: {n_loop}), chunk {args.chunk_size}, GT mesh cache built in {build_s:.2f} s")
    blas_env = {k: os.environ.get(k, "unset") for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")}
    print("NumPy loop's BLAS environment: " + ", ".join(f"{k}={v}" for k, v in blas_env.items()))
    print(f"{'threads':>10} {'cached/s':>9} {'cold/s':>8} {'loop/s':>7} {'metrics/s':>10} {'loop-metrics/s':>15} {'SGEMM GF/s':>11}")
    for r in rows:
        loop = (f"{r['loop']:>7,.1f}", f"{r['loop_metrics']:>15,.0f}") if r["mode"] == "torch" else (f"{'-':>7}", f"{'-':>15}")
        print(f"{str(r['threads']) + ' ' + r['mode']:>10} {r['cached']:>9,.0f} {r['cold']:>8,.0f} {loop[0]} "
              f"{r['metrics']:>10,.0f} {loop[1]} {gflops[r['threads']]:>11,.0f}")
    best = {key: max(rows, key=lambda r: r[key]) for key in ("cached", "cold", "loop", "metrics", "loop_metrics")}
    floor = {t: rate * 1e3 / FLOOR_MFLOP_PER_SAMPLE for t, rate in gflops.items()}

    def share(key: str) -> str:
        r = best[key]
        return (f"{r[key] / floor[r['threads']]:.0%} of the floor ({floor[r['threads']]:,.0f} samples/s on "
                f"{r['threads']} core(s), {r['threads']} {r['mode']})")

    print("ratios, each side at its best thread count:")
    print(f"  full suite (GT meshes cached) vs official-style loop: {best['cached']['cached'] / best['loop']['loop']:6.1f}x  (target >= 30x)")
    print(f"  full suite (GT meshed per run) vs official-style loop: {best['cold']['cold'] / best['loop']['loop']:6.1f}x")
    print(f"  metrics on given meshes vs per-sample NumPy metrics : {best['metrics']['metrics'] / best['loop_metrics']['loop_metrics']:6.1f}x  (target >= 20x)")
    print(f"  full suite cached: {share('cached')}  (target >= 50%)")
    print(f"  full suite cold  : {share('cold')}")
    for size, m in memory:
        print(f"  peak RSS, {size:>7,} samples (one {min(args.memory_shard, size)}-sample shard): {m['peak_mb']:,.0f} MB "
              f"({m['model_mb']:,.0f} MB with only the body model loaded; {m['load_peak_mb']:,.0f} MB peak while loading it)")


if __name__ == "__main__":
    main()
