"""The public inputs manifest (issue 22 §1): which image and which person each sample id is, written by each
importer from the official annotation files, and never anything from which ground truth could be recovered."""
from __future__ import annotations

import json

import numpy as np
import pytest

from ehps_client.inputs import FIELDS, ManifestError, build_manifest, validate_manifest
from evaluator.importers import parse_ground_truth, process_bbox
from evaluator.importers.ubody import official_camera


def _floats(manifest: dict) -> set[float]:
    return {round(v, 4) for s in manifest["samples"] for k, vals in s.items() if isinstance(vals, list) for v in vals}


def _perturb_fits(path, key: str, scale: float) -> None:
    """Change every ground-truth parameter of an annotation file, keeping images and boxes."""
    data = json.loads(path.read_text())
    for entry in (data.values() if isinstance(data, dict) and "annotations" not in data else data["annotations"]):
        params = entry[key]
        for name, value in params.items():
            if isinstance(value, list):
                params[name] = (np.asarray(value, float) * scale + 0.1).tolist()
    path.write_text(json.dumps(data))


def test_ubody_manifest_holds_the_official_crop_and_camera_and_no_gt(tmp_path):
    from ubody_synthetic import write_ubody_root

    write_ubody_root(tmp_path / "UBody", seed=21)
    gt = parse_ground_truth("ubody", tmp_path / "UBody")
    manifest = gt.inputs_manifest()
    first = manifest["samples"][0]
    box = process_bbox([400.0, 80.0, 300.0, 560.0], 1280, 720)
    focal, princpt = official_camera(box)
    assert first["id"] == "Talk/7100" and first["image"] == "Talk/videos/Talk_02/000100.jpg"
    np.testing.assert_allclose(first["box"], box, atol=1e-3)
    np.testing.assert_allclose(first["focal"], focal, atol=1e-3)
    np.testing.assert_allclose(first["princpt"], princpt, atol=1e-3)
    assert first["image_size"] == [1280, 720] and set(first) == {"id", *FIELDS}
    gt_values = {round(float(v), 4) for a in gt.arrays.values() for v in np.ravel(a) if v != 0}
    assert not (_floats(manifest) & gt_values)
    _perturb_fits(tmp_path / "UBody" / "annotations" / "Talk" / "smplx_annotation.json", "smplx_param", 0.5)
    changed = parse_ground_truth("ubody", tmp_path / "UBody")
    assert not np.allclose(changed.arrays["body_pose"], gt.arrays["body_pose"])
    assert changed.inputs_manifest() == manifest  # a function of images and boxes only: no GT can be read back


def test_3dpw_manifest_has_the_phone_camera_and_is_blind_to_the_gt(tmp_path):
    rng = np.random.default_rng(1)
    images = [{"id": 0, "width": 1080, "height": 1920, "file_name": "image_00000.jpg", "sequence": "downtown_bus_00",
               "cam_param": {"focal": [1961.9, 1969.2], "princpt": [540.9, 979.7]}}]
    anns = [{"id": 10 + i, "image_id": 0, "bbox": [300 + 100 * i, 400, 300, 900],
             "smpl_param": {"pose": rng.normal(0, 0.2, 72).tolist(), "shape": rng.normal(size=10).tolist(),
                            "trans": [0.1, 0.2, 4.0], "gender": "male"}} for i in range(2)]
    (tmp_path / "3DPW_test.json").write_text(json.dumps({"images": images, "annotations": anns}))
    manifest = parse_ground_truth("3dpw", tmp_path / "3DPW_test.json").inputs_manifest()
    sample = manifest["samples"][1]
    assert sample["image"] == "imageFiles/downtown_bus_00/image_00000.jpg" and sample["focal"] == [1961.9, 1969.2]
    np.testing.assert_allclose(sample["box"], process_bbox([400, 400, 300, 900], 1080, 1920), atol=1e-3)
    _perturb_fits(tmp_path / "3DPW_test.json", "smpl_param", 2.0)
    assert parse_ground_truth("3dpw", tmp_path / "3DPW_test.json").inputs_manifest() == manifest


def test_humandata_manifest_uses_the_row_box_and_image(tmp_path):
    n = 3
    rng = np.random.default_rng(2)

    def write(scale: float) -> None:
        smplx = {k: rng.normal(size=(n, size)) * scale for k, size in
                 (("global_orient", 3), ("body_pose", 63), ("betas", 10), ("transl", 3))}
        meta = {"height": np.full(n, 720), "width": np.full(n, 1280)}
        np.savez(tmp_path / "hd.npz", image_path=np.array([f"seq/{i}.png" for i in range(n)]),
                 bbox_xywh=np.tile([100.0, 50.0, 200.0, 400.0, 1.0], (n, 1)), smplx=np.array(smplx, dtype=object),
                 meta=np.array(meta, dtype=object))

    write(1.0)
    manifest = parse_ground_truth("humandata", tmp_path / "hd.npz").inputs_manifest()
    assert [s["image"] for s in manifest["samples"]] == ["seq/0.png", "seq/1.png", "seq/2.png"]
    np.testing.assert_allclose(manifest["samples"][2]["box"], process_bbox([100, 50, 200, 400], 1280, 720), atol=1e-3)
    write(0.3)
    assert parse_ground_truth("humandata", tmp_path / "hd.npz").inputs_manifest() == manifest


def test_a_manifest_accepts_no_field_beyond_the_inputs():
    with pytest.raises(ManifestError, match=r"fields \['betas'\] are not inputs"):
        build_manifest(["a"], {"betas": np.zeros((1, 10))})
    manifest = build_manifest(["a"], {"box": np.array([[1.0, 2.0, 3.0, 4.0]])})
    validate_manifest(manifest)
    manifest["samples"][0]["transl"] = [0.0, 0.0, 5.0]
    with pytest.raises(ManifestError, match=r"sample 'a': unknown field\(s\) \['transl'\]"):
        validate_manifest(manifest)
