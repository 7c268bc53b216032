"""The rendered multi-person image benchmark: determinism, z-buffer occlusion, the GT layout, no person boxes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from evaluator.image_benchmark import project
from evaluator.multiperson_images import KID_SCALE, WHOLE_IMAGE_INPUT, make_multiperson_image_benchmark, occlusion_percent
from evaluator.protocols import get_protocol

SIZE = (120, 160)


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, smplx_model_dir: Path):
    return [make_multiperson_image_benchmark(tmp_path_factory.mktemp(f"mp{i}"), smplx_model_dir, 6, seed=seed,
                                             image_size=SIZE) for i, seed in enumerate((4, 4, 5))]


def _files(paths) -> dict[str, bytes]:
    files = {p.relative_to(paths.input_dir).as_posix(): p.read_bytes() for p in paths.input_dir.rglob("*") if p.is_file()}
    return {**files, "gt": paths.gt_path.read_bytes()}


def test_same_seed_same_bytes_other_seed_other_images(rendered):
    first, again, other = (_files(r) for r in rendered)
    assert first == again
    assert first["images/00000.png"] != other["images/00000.png"]


def test_the_model_sees_whole_images_and_no_boxes(rendered):
    manifest = json.loads((rendered[0].input_dir / "manifest.json").read_text())
    assert manifest["input"] == WHOLE_IMAGE_INPUT
    assert get_protocol("agora-multiperson").model_input == WHOLE_IMAGE_INPUT  # the protocol decides, not the slug
    for sample in manifest["samples"]:
        assert set(sample) == {"sample_id", "image", "width", "height"}  # no box, no person count
    assert not any(p.name.endswith(".npz") for p in rendered[0].input_dir.rglob("*"))


def test_gt_is_the_protocols_layout_with_1_to_4_people_and_kids(rendered, smplx_model_dir):
    protocol = get_protocol("agora-multiperson")
    gt = protocol.load_gt(rendered[0].gt_path)
    with np.load(rendered[0].gt_path) as raw:
        arrays = {k: raw[k] for k in raw.files}
    counts = np.unique(arrays["image_ids"], return_counts=True)[1]
    assert len(gt.images) == 6 and counts.min() >= 1 and counts.max() <= 4
    assert arrays["joints2d"].shape == (len(arrays["image_ids"]), 24, 2) and arrays["valid"].all()
    assert (arrays["image_width"] == SIZE[1]).all() and (arrays["image_height"] == SIZE[0]).all()
    assert ((arrays["occlusion"] >= 0) & (arrays["occlusion"] <= 100)).all()
    # the same seeds over more images give kids, drawn at about KID_RATE, smaller than the adults
    with np.load(rendered[2].gt_path) as raw:
        kid, verts = raw["kid"], raw["vertices"]
    heights = np.ptp(verts[..., 1], axis=1) / verts[..., 2].mean(1)  # image height per metre of depth
    if kid.any() and (~kid).any():
        assert heights[kid].mean() < heights[~kid].mean() * (KID_SCALE + 0.3)


def test_a_person_right_behind_another_is_fully_occluded(rendered):
    with np.load(rendered[0].gt_path) as raw:
        front = raw["vertices"][0].astype(np.float64)
    behind = front * 2.0  # the same rays, twice as far: every vertex lands on the front person's pixel
    beside = front + np.array([100.0, 0.0, 0.0])  # far outside the frame
    uv = project(np.stack([front, behind, beside]), SIZE)
    occlusion = occlusion_percent(uv, np.stack([front, behind, beside])[..., 2], SIZE)
    assert occlusion[0] == pytest.approx(0.0, abs=0.5)
    assert occlusion[1] == pytest.approx(100.0, abs=0.5)
    assert occlusion[2] == 100.0  # outside the image counts as hidden
    alone = occlusion_percent(uv[1:2], np.stack([behind])[..., 2], SIZE)
    assert alone[0] == pytest.approx(0.0, abs=0.5)  # only others hide a person, not its own back


def test_occlusion_written_is_what_the_others_hide(rendered):
    """Alone, a person is hidden only by the frame; with the others of its image, never less, and in these
    images some people do hide others (mutual occlusion)."""
    with np.load(rendered[2].gt_path) as raw:
        occ, verts, ids = raw["occlusion"], raw["vertices"].astype(np.float64), raw["image_ids"]
    uv = project(verts, SIZE)
    alone = np.array([occlusion_percent(uv[i:i + 1], verts[i:i + 1, :, 2], SIZE)[0] for i in range(len(ids))])
    single = np.isin(ids, [i for i, c in zip(*np.unique(ids, return_counts=True)) if c == 1])
    assert (occ >= alone - 1e-3).all()
    np.testing.assert_allclose(occ[single], alone[single], atol=1e-3)
    assert (occ > alone + 5).any()
