"""Hand-run benchmark of the failure renders (issue 22 §4: under 0.2 s per picture on the host).

What a worker does per benchmark (workers.renders.draw) on the 12 worst samples, timed in its parts, best of
``--repeats`` rounds, in one torch thread (a worker process's default):

- meshes: the 12 predictions and the 12 GT meshes through the SMPL-X layer, pelvis-aligned (evaluator.render);
- a part picture (secret GT: the prediction alone, one colour per part) and a vertex picture (public GT: the
  prediction by per-vertex error over the GT in grey), each front and side, PNG-encoded.

Prints seconds per picture (the mesh share included) and its ratio to the 0.2 s budget.

    .venv/bin/python bench/bench_renders.py [--model-dir var/smplx_synthetic] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from evaluator import render  # noqa: E402
from evaluator.body_model import load_body_model  # noqa: E402
from evaluator.image_benchmark import sample_params  # noqa: E402

BUDGET_S = 0.2
WORST = 12


def best(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", default=os.environ.get("SMPLX_MODEL_DIR", "var/smplx_synthetic"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    body = load_body_model(args.model_dir, "cpu")
    rng = np.random.default_rng(0)
    params = {k: np.asarray(v, np.float32) for k, v in sample_params(WORST, rng).items()}
    params["transl"] = np.tile(np.float32([0.0, 0.0, 3.0]), (WORST, 1))
    noisy = {k: v + rng.normal(0, 0.05, v.shape).astype(np.float32) for k, v in params.items()}
    faces = body.layer.faces_tensor.numpy()
    ids = render.part_ids(body.layer.faces_tensor.max().item() + 1,
                          *(getattr(body.assets, k).numpy() for k in ("left_hand", "right_hand", "face")))

    def meshes(p: dict) -> np.ndarray:
        with torch.inference_mode():
            return render.align_to_pelvis(body.assets, body.vertices(p).double().numpy())

    pred, gt = meshes(noisy), meshes(params)
    one_side = best(lambda: meshes(noisy), args.repeats) / WORST  # per sample, one of prediction or GT
    part = best(lambda: [render.render_part_errors(pred[i], faces, ids, [40.0, 80.0, 200.0, None])
                         for i in range(WORST)], args.repeats) / WORST
    vertex = best(lambda: [render.render_vertex_errors(pred[i], gt[i], faces, ids) for i in range(WORST)],
                  args.repeats) / WORST
    load = os.getloadavg()[0]
    print(f"{WORST} samples, {pred.shape[1]} vertices, torch threads 1, load average {load:.2f}")
    print(f"{'picture':<34}{'mesh s':>9}{'draw s':>9}{'total s':>9}{'of 0.2 s':>10}")
    for name, mesh_s, draw_s in (("part colours (secret GT)", one_side, part),
                                 ("per-vertex + GT grey (public GT)", 2 * one_side, vertex)):
        total = mesh_s + draw_s
        print(f"{name:<34}{mesh_s:>9.3f}{draw_s:>9.3f}{total:>9.3f}{total / BUDGET_S:>9.0%}")


if __name__ == "__main__":
    main()
