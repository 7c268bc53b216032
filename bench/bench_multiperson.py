"""Score a synthetic multi-person benchmark (agora-multiperson) and print seconds beside the per-crop rate.

Run by hand: ``.venv/bin/python bench/bench_multiperson.py [--images 1000] [--model-dir DIR]``
(DIR defaults to $SMPLX_MODEL_DIR or var/smplx_synthetic; make one with
``python -m evaluator make-synthetic-model --out DIR``). Generates 1-4 people per image with noisy
predictions, writes both npz files to a temporary folder, then times loading + matching + scoring +
summary, and the per-crop smplx-generic protocol on as many people for samples/s.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluator.assets import default_model_dir  # noqa: E402
from evaluator.body_model import load_body_model  # noqa: E402
from evaluator.demo import make_demo_benchmark  # noqa: E402
from evaluator.multiperson_synthetic import make_multiperson_set  # noqa: E402
from evaluator.protocols import get_protocol  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--model-dir", default=str(default_model_dir()))
    args = ap.parse_args()
    bm = load_body_model(args.model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        gt, pred = make_multiperson_set(bm, args.images, seed=0)
        np.savez(Path(tmp) / "gt.npz", **gt)
        np.savez(Path(tmp) / "pred.npz", **pred)
        people = len(gt["image_ids"])
        proto = get_protocol("agora-multiperson")
        t0 = time.perf_counter()
        g = proto.load_gt(Path(tmp) / "gt.npz")
        p = proto.load_predictions(Path(tmp) / "pred.npz", g)
        out = proto.summarize(proto.score(bm, g, p)["test"])
        multi = time.perf_counter() - t0
        print(f"agora-multiperson: {args.images} images, {people} GT people, {len(p)} predictions: {multi:.1f} s "
              f"({people / multi:.0f} people/s); F1 {out['f1']}, FB-NMVE {out['fb_nmve']}")
        crop = get_protocol("smplx-generic")
        from evaluator.formats import load_sample_set
        gt_path, pred_path = make_demo_benchmark(Path(tmp) / "crop", num_samples=people)
        cg, cp = crop.load_gt(gt_path), load_sample_set(pred_path)
        t0 = time.perf_counter()
        crop.score(bm, cg, cp)
        single = time.perf_counter() - t0
        print(f"smplx-generic per-crop: {people} samples: {single:.1f} s ({people / single:.0f} samples/s)")


if __name__ == "__main__":
    main()
