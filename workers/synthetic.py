"""Synthetic GT and prediction files in the evaluator's npz format, for worker tests and bench/bench_workers.py.

GT holds random SMPL-X parameters (meshed by the same neutral layer as predictions); predictions are
the GT parameters plus Gaussian noise, in shuffled order, so matching by sample id is exercised.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from evaluator.smplx_params import PARAM_SIZES

_PARAM_STD = {"betas": 1.0, "expression": 0.5, "transl": 0.1}  # poses: 0.2 rad
_OPTIONAL = {"leye_pose", "reye_pose"}


def synthetic_gt(num_samples: int, seed: int = 0, splits: Sequence[str] = ("test",)) -> dict[str, np.ndarray]:
    """GT arrays: ``sample_ids``, ``splits`` (cycling through ``splits``) and SMPL-X params."""
    rng = np.random.default_rng(seed)
    arrays: dict[str, np.ndarray] = {
        "sample_ids": np.array([f"s{seed}-{i:06d}" for i in range(num_samples)]),
        "splits": np.array([splits[i % len(splits)] for i in range(num_samples)]),
    }
    for key, size in PARAM_SIZES.items():
        if key in _OPTIONAL:
            continue
        arrays[key] = (rng.standard_normal((num_samples, size)) * _PARAM_STD.get(key, 0.2)).astype(np.float32)
    arrays["transl"][:, 2] += 3.0  # in front of the camera, metres away as in real data
    return arrays


def noisy_predictions(gt: dict[str, np.ndarray], noise: float = 0.05, seed: int = 1) -> dict[str, np.ndarray]:
    """Predictions for every GT sample: params + N(0, noise), rows shuffled."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(gt["sample_ids"]))
    pred = {"sample_ids": gt["sample_ids"][order]}
    for key, value in gt.items():
        if key in ("sample_ids", "splits"):
            continue
        pred[key] = (value[order] + rng.standard_normal(value.shape) * noise).astype(np.float32)
    return pred


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def create_benchmark(slug: str, num_samples: int, *, splits: Sequence[str] = ("test",), ranking: str | None = None,
                     seed: int = 0, is_active: bool = True, **spec):
    """Import a synthetic benchmark the way ``import_benchmark`` does (GT + public ids under ``gt/<slug>/``).

    ``spec`` goes to ``BenchmarkSpec`` (primary_metric, counts_toward_mpe, ...). The GT arrays are attached
    as ``benchmark.gt_arrays`` for making predictions.
    """
    import tempfile

    from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth

    gt = synthetic_gt(num_samples, seed=seed, splits=splits)
    with tempfile.TemporaryDirectory() as tmp:
        gt_file = write_npz(Path(tmp) / "gt.npz", gt)
        benchmark = import_ground_truth(gt_file, BenchmarkSpec(slug=slug, name=slug.upper(), ranking_split=ranking, **spec))
    if not is_active:
        benchmark.is_active = False
        benchmark.save(update_fields=["is_active"])
    benchmark.gt_arrays = gt
    return benchmark


def create_submission(owner, benchmarks, *, noise: float = 0.05, seed: int = 1, method_name: str = "method"):
    """A SUBMITTED predictions submission whose noisy predictions are stored at ``predictions_name(slug)``."""
    import tempfile

    from leaderboard.storage import PRIVATE, put_file
    from leaderboard.submissions.models import Submission

    submission = Submission.objects.create(owner=owner, method_name=method_name)
    submission.benchmarks.set(benchmarks)
    with tempfile.TemporaryDirectory() as tmp:
        for benchmark in benchmarks:
            arrays = noisy_predictions(benchmark.gt_arrays, noise=noise, seed=seed)
            put_file(PRIVATE, submission.predictions_name(benchmark.slug), write_npz(Path(tmp) / "pred.npz", arrays))
    return submission


def direct_means(submission, benchmark, chunk_size: int) -> dict[str, dict[str, float | None]]:
    """Reference: the evaluator called directly on a whole benchmark, in this process: ``{split: means}``."""
    from django.conf import settings

    from evaluator.body_model import load_body_model
    from evaluator.formats import load_sample_set
    from evaluator.scoring import score_samples
    from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path

    gt = load_sample_set(local_path(GROUND_TRUTH, benchmark.gt_path), role="gt")
    pred = load_sample_set(local_path(PRIVATE, submission.predictions_name(benchmark.slug)), role="pred")
    sums = score_samples(load_body_model(settings.SMPLX_MODEL_DIR, "cpu"), gt, pred, chunk_size=chunk_size)
    return {split: s.means() for split, s in sums.items()}
