"""Issue 12 Low: private storage files were world-readable (0644) and the runner opened the images folder."""
from __future__ import annotations

import stat
from pathlib import Path

from django.conf import settings

from leaderboard.storage import private_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_uploads_and_ground_truth_are_readable_by_us_only(world):
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    assert mode(root) == 0o700
    upload = private_path(world.submission.upload.name)
    assert mode(upload) == 0o600 and mode(upload.parent) == 0o700
    stored = [p for p in upload.parent.rglob("*")]
    assert stored and all(mode(p) & 0o077 == 0 for p in stored), {str(p): oct(mode(p)) for p in stored}
    gt = private_path(world.benchmark.gt_path)
    assert all(mode(p) == 0o600 for p in gt.parent.iterdir())


def test_imported_held_out_images_are_private(db, tmp_path, smplx_model_dir):
    from evaluator.image_benchmark import make_image_benchmark
    from leaderboard.benchmarks.services import BenchmarkSpec, import_ground_truth

    rendered = make_image_benchmark(tmp_path / "src", smplx_model_dir, num_samples=2, seed=3, image_size=(32, 24),
                                    slug="private-images")
    benchmark = import_ground_truth(rendered.gt_path, BenchmarkSpec(slug="private-images", name="P"),
                                    images_dir=rendered.input_dir)
    images = private_path(benchmark.images_path)
    entries = [images, *images.rglob("*")]
    assert all(mode(p) == (0o700 if p.is_dir() else 0o600) for p in entries), {str(p): oct(mode(p)) for p in entries}
