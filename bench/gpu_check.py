"""The CUDA path against the CPU path (issue 23: it had never run): one demo benchmark scored on both devices.

Prints, for every metric, the largest per-sample difference between ``cuda`` and ``cpu`` (bar: <= 1e-4 mm) and the
samples/s of each device. Exit status 1 when a difference is over the bar, 0 otherwise (also when no GPU is
visible: the CPU side runs and the CUDA side is reported as skipped). Well under 5 minutes on either device.

    .venv/bin/python bench/gpu_check.py [--samples 2048] [--chunk-size 64] [--model-dir DIR] [--device cuda:1]

``--model-dir`` defaults to a synthetic SMPL-X model (real array shapes) generated in a temporary folder; point it
at the licensed files for the figures that count.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from evaluator.formats import load_sample_set, match_samples  # noqa: E402
from evaluator.protocols import get_protocol, load_protocol_models  # noqa: E402
from evaluator.synthetic_model import make_synthetic_model  # noqa: E402
from workers.synthetic import noisy_predictions, synthetic_gt, write_npz  # noqa: E402

BAR_MM = 1e-4


def score(protocol, model_dir: Path, gt, pred, device: str, chunk_size: int) -> tuple[dict[str, np.ndarray], float]:
    """Per-sample values on ``device`` and samples/s of the timed run (after one warm-up chunk)."""
    models = load_protocol_models(protocol, model_dir, device)
    pred_index = np.asarray(match_samples(gt, pred))
    warm = np.arange(min(chunk_size, len(gt)))
    protocol.per_sample(models, gt, pred, warm, pred_index[warm], chunk_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    values = protocol.per_sample(models, gt, pred, np.arange(len(gt)), pred_index, chunk_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)
    return values, len(gt) / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--chunk-size", type=int, default=64)
    parser.add_argument("--model-dir", type=Path)
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    protocol = get_protocol("smplx-generic")
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        tmp_path = Path(tmp)
        model_dir = args.model_dir
        if model_dir is None:
            make_synthetic_model(model_dir := tmp_path / "smplx_model", seed=0)
        arrays = synthetic_gt(args.samples, seed=3, splits=("dev", "test"))
        gt = load_sample_set(write_npz(tmp_path / "gt.npz", arrays), role="gt")
        pred = load_sample_set(write_npz(tmp_path / "pred.npz", noisy_predictions(arrays, seed=4)), role="pred")
        cpu, cpu_rate = score(protocol, model_dir, gt, pred, "cpu", args.chunk_size)
        print(f"cpu : {cpu_rate:9.1f} samples/s ({args.samples} samples, chunk {args.chunk_size}, "
              f"{torch.get_num_threads()} torch threads)")
        if not torch.cuda.is_available():
            print(f"{args.device}: skipped, no CUDA device is visible to torch {torch.__version__} here "
                  "(run this on a GPU host to check the CUDA path)")
            return 0
        gpu, gpu_rate = score(protocol, model_dir, gt, pred, args.device, args.chunk_size)
        print(f"{args.device}: {gpu_rate:9.1f} samples/s ({torch.cuda.get_device_name(args.device)})")
    worst = 0.0
    print(f"{'metric':<22} {'max |cuda - cpu| mm':>20}")
    for key in protocol.metrics:
        both = ~(np.isnan(cpu[key]) | np.isnan(gpu[key]))
        if not np.array_equal(np.isnan(cpu[key]), np.isnan(gpu[key])):
            print(f"{key:<22} NaN in different samples")
            worst = float("inf")
            continue
        diff = float(np.max(np.abs(cpu[key][both] - gpu[key][both]))) if both.any() else 0.0
        worst = max(worst, diff)
        print(f"{key:<22} {diff:20.3e}")
    verdict = "within" if worst <= BAR_MM else "OVER"
    print(f"largest per-sample difference {worst:.3e} mm: {verdict} the bar of {BAR_MM:g} mm")
    return 0 if worst <= BAR_MM else 1


if __name__ == "__main__":
    sys.exit(main())
