"""The rendered held-out image benchmark: layout, determinism, boxes and camera."""
from __future__ import annotations

import json

import numpy as np
import torch
from PIL import Image

from evaluator.body_model import load_body_model
from evaluator.formats import load_sample_set
from evaluator.image_benchmark import image_focal, make_image_benchmark, project


def _manifest(paths) -> dict:
    return json.loads((paths.input_dir / "manifest.json").read_text())


def test_layout_and_ground_truth(image_benchmark):
    manifest = _manifest(image_benchmark)
    assert manifest["benchmark"] == "synthetic-images"
    assert not (image_benchmark.input_dir / "gt.npz").exists()  # GT stays outside what the model sees
    gt = load_sample_set(image_benchmark.gt_path, role="gt")
    assert [s["sample_id"] for s in manifest["samples"]] == gt.sample_ids.tolist()
    for sample in manifest["samples"]:
        with Image.open(image_benchmark.input_dir / sample["image"]) as img:
            assert img.size == (256, 256) and img.mode == "RGB"
        x, y, w, h = sample["bbox_xywh"]
        assert 0 <= x and 0 <= y and x + w <= 256 and y + h <= 256 and w > 10 and h > 10


def test_box_and_pixels_follow_the_ground_truth_mesh(image_benchmark, smplx_model_dir):
    """Re-project the GT mesh: its bounding box is the manifest's box and the person differs from the background."""
    gt = load_sample_set(image_benchmark.gt_path, role="gt")
    verts = load_body_model(smplx_model_dir).vertices({k: torch.tensor(v) for k, v in gt.take(slice(0, 2)).items()})
    for i, sample in enumerate(_manifest(image_benchmark)["samples"][:2]):
        uv = project(verts[i].numpy(), (256, 256))
        assert np.allclose(sample["bbox_xywh"][:2], uv.min(0), atol=0.02)
        img = np.asarray(Image.open(image_benchmark.input_dir / sample["image"]), dtype=np.float32)
        centre = np.round(np.median(uv, 0)).astype(int)
        body_pixels = img[uv[:, 1].round().astype(int).clip(0, 255), uv[:, 0].round().astype(int).clip(0, 255)]
        assert body_pixels.std() > 10  # shaded, part-coloured body, not a flat background
        assert 0 <= centre[0] < 256 and 0 <= centre[1] < 256


def test_deterministic_per_seed(tmp_path, smplx_model_dir):
    a = make_image_benchmark(tmp_path / "a", smplx_model_dir, num_samples=2, seed=1, image_size=(128, 96))
    b = make_image_benchmark(tmp_path / "b", smplx_model_dir, num_samples=2, seed=1, image_size=(128, 96))
    c = make_image_benchmark(tmp_path / "c", smplx_model_dir, num_samples=2, seed=2, image_size=(128, 96))
    assert _manifest(a) == _manifest(b) and _manifest(a) != _manifest(c)
    assert (a.input_dir / "images/00000.png").read_bytes() == (b.input_dir / "images/00000.png").read_bytes()
    with Image.open(a.input_dir / "images/00000.png") as img:
        assert img.size == (96, 128)


def test_focal_matches_the_smpler_x_crop_camera():
    assert image_focal((256, 192)) == 5000.0
    assert image_focal((512, 512)) == 10000.0
