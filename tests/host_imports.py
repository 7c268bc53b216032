"""Helpers for the staff import tests (page, real worker, browser): small synthetic GT bundles and the form."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

NUM_SAMPLES = 12


def gt_file(folder: Path, seed: int = 6, betas_shift: float = 0.0, name: str = "gt.npz") -> Path:
    """A 12-sample SMPL-X GT file with splits dev and test (evaluator.demo), betas shifted to make another GT."""
    from evaluator.demo import make_demo_benchmark

    gt_path, _ = make_demo_benchmark(folder / f"demo-{seed}", num_samples=NUM_SAMPLES, seed=seed)
    with np.load(gt_path) as gt:
        arrays = {k: gt[k] for k in gt.files}
    arrays["splits"] = np.where(np.arange(NUM_SAMPLES) % 2 == 0, "dev", "test")
    arrays["betas"] = arrays["betas"] + np.float32(betas_shift)
    path = folder / name
    np.savez(path, **arrays)
    return path


def zip_bundle(files: dict[str, Path]) -> io.BytesIO:
    """An in-memory .zip upload holding ``files`` at the given member names."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for member, path in files.items():
            archive.write(path, member)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    return buffer


def form_data(slug: str, **fields) -> dict:
    """The import form's fields for an npz bundle: test hidden by default, out of MPE, dev ranking."""
    return {"slug": slug, "name": slug.title(), "fmt": "npz", "hidden": "default", "mpe": "no", "hand_mpe": "",
            "display_order": 100, **fields}
