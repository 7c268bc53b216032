"""Ground-truth importers, each on small synthetic files in the benchmark's real published format."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evaluator.formats import load_sample_set
from evaluator.importers import (
    GroundTruthImportError, import_ground_truth, parse_ground_truth, process_bbox, read_ply_vertices, rodrigues,
)
from evaluator.importers.ehf import EHF_CAMERA_ROTATION
from evaluator.importers.ubody import official_camera
from evaluator.protocols import get_protocol, load_protocol_models

V = 10475


def _write_ply(path, verts, binary: bool) -> None:
    header = (f"ply\nformat {'binary_little_endian' if binary else 'ascii'} 1.0\ncomment EHF-like\n"
              f"element vertex {len(verts)}\nproperty float x\nproperty float y\nproperty float z\n"
              "element face 1\nproperty list uchar int vertex_indices\nend_header\n").encode()
    with open(path, "wb") as f:
        f.write(header)
        if binary:
            f.write(verts.astype("<f4").tobytes() + bytes([3]) + np.array([0, 1, 2], "<i4").tobytes())
        else:
            f.write("".join(f"{x} {y} {z}\n" for x, y, z in verts).encode() + b"3 0 1 2\n")


def test_rodrigues_is_the_rotation_about_the_axis():
    R = rodrigues(EHF_CAMERA_ROTATION)
    r = np.asarray(EHF_CAMERA_ROTATION)
    np.testing.assert_allclose(R @ R.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(R) == pytest.approx(1.0)
    np.testing.assert_allclose(R @ r, r, atol=1e-12)  # the axis is fixed
    assert np.degrees(np.arccos((np.trace(R) - 1) / 2)) == pytest.approx(np.degrees(np.linalg.norm(r)))


def test_ehf_registrations_are_rotated_into_the_camera_frame(tmp_path):
    rng = np.random.default_rng(0)
    verts = [rng.normal(size=(V, 3)).astype(np.float32) for _ in range(2)]
    _write_ply(tmp_path / "01_align.ply", verts[0], binary=False)
    _write_ply(tmp_path / "02_align.ply", verts[1], binary=True)
    np.testing.assert_array_equal(read_ply_vertices(tmp_path / "02_align.ply"), verts[1])
    gt = import_ground_truth("ehf", tmp_path, tmp_path / "gt.npz")
    assert gt.protocol == "ehf" and list(gt.sample_ids) == ["01", "02"]
    loaded = load_sample_set(tmp_path / "gt.npz", role="gt")
    R = rodrigues(EHF_CAMERA_ROTATION)
    np.testing.assert_allclose(loaded.arrays["vertices"][1], verts[1] @ R.T, atol=1e-5)
    assert gt.inputs_manifest()["samples"][0] == {"id": "01", "image": "01_img.jpg"}  # no EHF.json: no box
    # with the reference's EHF.json the frame gets the box EHF.load_data crops with (process_bbox of body_bbox)
    (tmp_path / "EHF.json").write_text(json.dumps({
        "images": [{"id": k, "file_name": f"0{k}_img.jpg", "width": 1600, "height": 1200} for k in (1, 2)],
        "annotations": [{"image_id": 1, "body_bbox": [500, 100, 400, 900]},
                        {"image_id": 2, "body_bbox": [5000, 100, 400, 900]}]}))  # 2: outside the image
    gt = parse_ground_truth("ehf", tmp_path)
    assert list(gt.sample_ids) == ["01"] and gt.skipped == {"bbox outside the image": 1}
    np.testing.assert_allclose(gt.inputs_manifest()["samples"][0]["box"], process_bbox([500, 100, 400, 900], 1600, 1200),
                               atol=1e-3)
    _write_ply(tmp_path / "03_align.ply", verts[0][:100], binary=True)
    with pytest.raises(GroundTruthImportError, match="03_align.ply: 100 vertices"):
        parse_ground_truth("ehf", tmp_path)


def test_agora_keeps_valid_people_inside_the_image(tmp_path):
    rng = np.random.default_rng(1)
    anns = []
    for aid, valid, bbox in ((1, True, [100, 200, 400, 900]), (2, False, [100, 200, 400, 900]),
                             (3, True, [3900, 2200, 50, 50])):  # 3: entirely outside the 3840x2160 image
        (tmp_path / f"v{aid}.json").write_text(json.dumps(rng.normal(size=(V, 3)).tolist()))
        anns.append({"id": aid, "image_id": 0, "is_valid": valid, "bbox": bbox, "smplx_verts_path": f"v{aid}.json"})
    (tmp_path / "AGORA_validation.json").write_text(json.dumps(
        {"images": [{"id": 0, "file_name_1280x720": "validation_1280x720/ag_val_0.png"}], "annotations": anns}))
    gt = import_ground_truth("agora", tmp_path / "AGORA_validation.json", tmp_path / "gt.npz")
    assert list(gt.sample_ids) == ["1"] and gt.protocol == "agora-val"
    assert gt.skipped == {"is_valid false": 1, "bbox outside the image": 1}
    sample = gt.inputs_manifest()["samples"][0]  # the 720p setting: its image and the box scaled to it
    assert sample["image"] == "validation_1280x720/ag_val_0.png" and sample["image_size"] == [1280, 720]
    np.testing.assert_allclose(sample["box"], process_bbox([100 / 3, 200 / 3, 400 / 3, 300], 1280, 720), atol=1e-3)
    expected = np.asarray(json.loads((tmp_path / "v1.json").read_text()))
    np.testing.assert_allclose(load_sample_set(tmp_path / "gt.npz", role="gt").arrays["vertices"][0], expected, atol=1e-6)


def test_process_bbox_follows_smplerx():
    # sanitize_bbox keeps w - 1, h - 1 (99 x 199, centre (99.5, 199.5)); widened to the 3:4 aspect
    # (149.25 x 199), then x1.25 about the same centre
    np.testing.assert_allclose(process_bbox([50, 100, 100, 200], 1000, 1000), [6.21875, 75.125, 186.5625, 248.75], atol=1e-4)
    assert process_bbox([2000, 10, 30, 30], 1000, 1000) is None


def _pw3d_json(path, rng, n=3):
    images = [{"id": 0, "width": 1080, "height": 1920, "file_name": "image_00000.jpg", "sequence": "seq"}]
    anns = []
    for i in range(n):
        pose = np.r_[np.pi + rng.normal(0, 0.1), rng.normal(0, 0.2, 2), rng.normal(0, 0.2, 69)]
        anns.append({"id": 10 + i, "image_id": 0, "bbox": [300, 400, 300, 900] if i else [5000, 5000, 10, 10],
                     "smpl_param": {"pose": pose.tolist(), "shape": rng.normal(size=10).tolist(),
                                    "trans": [0.1, 0.2, 4.0 + i], "gender": ["female", "male", "female"][i]}})
    path.write_text(json.dumps({"images": images, "annotations": anns}))
    return anns


def test_3dpw_json_to_smpl_params_and_scored(tmp_path, smplx_model_dir):
    rng = np.random.default_rng(2)
    anns = _pw3d_json(tmp_path / "3DPW_test.json", rng)
    gt = import_ground_truth("3dpw", tmp_path / "3DPW_test.json", tmp_path / "gt.npz")
    assert list(gt.sample_ids) == ["11", "12"] and gt.skipped == {"bbox outside the image": 1}
    loaded = get_protocol("3dpw").load_gt(tmp_path / "gt.npz")
    assert list(loaded.meta["gender"]) == ["male", "female"]
    np.testing.assert_allclose(loaded.arrays["body_pose"][0].reshape(-1), anns[1]["smpl_param"]["pose"][3:], atol=1e-6)
    np.testing.assert_allclose(loaded.arrays["transl"][1], [0.1, 0.2, 6.0], atol=1e-6)
    # a SMPL-X prediction with the same body pose scores a plausible MPJPE against it
    pred = {"sample_ids": loaded.sample_ids, "global_orient": loaded.arrays["global_orient"],
            "body_pose": loaded.arrays["body_pose"][:, :21], "left_hand_pose": np.zeros((2, 15, 3)),
            "right_hand_pose": np.zeros((2, 15, 3)), "jaw_pose": np.zeros((2, 3)), "betas": np.zeros((2, 10)),
            "expression": np.zeros((2, 10)), "transl": loaded.arrays["transl"] + [0.0, 0.0, 30.0]}
    np.savez(tmp_path / "pred.npz", **{k: np.asarray(v, np.float32) if k != "sample_ids" else v for k, v in pred.items()})
    models = load_protocol_models("3dpw", smplx_model_dir)
    means = get_protocol("3dpw").score(models, loaded, load_sample_set(tmp_path / "pred.npz"))["test"].means()
    assert set(means) == {"mpjpe_body", "pa_mpjpe_body"} and 0 < means["pa_mpjpe_body"] < means["mpjpe_body"] < 300


def _ubody_root(root, rng):
    (root / "splits").mkdir(parents=True)
    np.save(root / "splits" / "intra_scene_test_list.npy", np.array(["TalkShow_01", "Other_03"]))
    scene = root / "annotations" / "TalkShow"
    scene.mkdir(parents=True)
    images, anns, smplx = [], [], {}
    for i in range(1, 401):
        video = "TalkShow_01_Trim2" if i != 200 else "TalkShow_99"
        images.append({"id": i, "file_name": f"/videos/{video}/{i:06d}.jpg", "width": 1280, "height": 720})
        anns.append({"id": 5000 + i, "image_id": i, "iscrowd": int(i == 300), "num_keypoints": 17, "valid_label": 1,
                     "bbox": [500, 100, 200, 500], "lefthand_valid": True, "righthand_valid": True, "face_valid": True})
        smplx[str(5000 + i)] = {"smplx_param": {"root_pose": [np.pi, 0, 0], "body_pose": rng.normal(0, 0.1, 63).tolist(),
                                                "lhand_pose": [0.0] * 45, "rhand_pose": [0.0] * 45, "jaw_pose": [0, 0, 0],
                                                "shape": [0.0] * 10, "expr": [0.0] * 10, "trans": [0.0, 0.3, 5.0]},
                                "cam_param": {"focal": [1500.0, 1500.0], "princpt": [640.0, 360.0]}}
    (scene / "keypoint_annotation.json").write_text(json.dumps({"images": images, "annotations": anns}))
    (scene / "smplx_annotation.json").write_text(json.dumps(smplx))


def test_ubody_samples_every_100th_test_annotation_with_the_official_camera(tmp_path, smplx_model_dir):
    _ubody_root(tmp_path / "UBody", np.random.default_rng(3))
    gt = import_ground_truth("ubody", tmp_path / "UBody", tmp_path / "gt.npz")
    # i = 100, 200 (not a test video), 300 (crowd), 400 -> two samples
    assert list(gt.sample_ids) == ["TalkShow/5100", "TalkShow/5400"]
    assert gt.skipped == {"not a test video": 1, "crowd or no keypoints": 1, "off the sampling interval (every 100)": 396}
    assert gt.rows_read == 400 and gt.adjusted == {}
    box = process_bbox([500, 100, 200, 500], 1280, 720)
    focal, princpt = official_camera(box)
    np.testing.assert_allclose(gt.meta["focal"][0], [5000 * box[2] / 192, 5000 * box[3] / 256])
    np.testing.assert_allclose(gt.meta["princpt"][0], princpt)
    np.testing.assert_allclose(gt.meta["image_size"][1], [1280, 720])
    loaded = get_protocol("ubody").load_gt(tmp_path / "gt.npz")
    dataset = parse_ground_truth("ubody", tmp_path / "UBody", camera="dataset")
    np.testing.assert_allclose(dataset.meta["focal"][0], [1500, 1500])
    # scoring the GT against itself: zero error wherever something is visible
    pred = {"sample_ids": loaded.sample_ids, **{k: v for k, v in loaded.arrays.items()}}
    np.savez(tmp_path / "pred.npz", **pred)
    models = load_protocol_models("ubody", smplx_model_dir)
    rows = get_protocol("ubody").per_sample(models, loaded, load_sample_set(tmp_path / "pred.npz"))
    assert np.nanmax(rows["mpvpe_all"]) < 1e-3 and np.nanmax(rows["pa_mpjpe_body"]) < 1e-3


def test_humandata_smpl_file_gives_gendered_smpl_gt_and_drops_invalid_rows(tmp_path):
    rng = np.random.default_rng(4)
    n = 5
    smpl = {"global_orient": rng.normal(size=(n, 3)), "body_pose": rng.normal(size=(n, 23, 3)),
            "betas": rng.normal(size=(n, 10)), "transl": rng.normal(size=(n, 3))}
    meta = {"gender": np.array(["m", "f", "m", "f", "m"]), "annot_valid": np.array([1, 1, 0, 1, 1])}
    np.savez(tmp_path / "pw3d_test.npz", image_path=np.array([f"i{k}.jpg" for k in range(n)]),
             smpl=np.array(smpl, dtype=object), meta=np.array(meta, dtype=object))
    gt = import_ground_truth("humandata", tmp_path / "pw3d_test.npz", tmp_path / "gt.npz", sample_interval=2)
    assert gt.schema == "smpl" and gt.protocol == "3dpw"
    assert list(gt.sample_ids) == ["i0.jpg#0", "i4.jpg#4"] and list(gt.meta["gender"]) == ["male", "male"]
    raw = smpl["betas"][[0, 4]]
    kept = np.where((np.abs(raw) > 3).any(1, keepdims=True), 0.0, raw)
    np.testing.assert_allclose(load_sample_set(tmp_path / "gt.npz", role="gt", schema="smpl").arrays["betas"], kept, atol=1e-6)


def test_npz_passthrough_and_clear_errors(tmp_path):
    from evaluator.demo import make_demo_benchmark

    gt_path, _ = make_demo_benchmark(tmp_path, num_samples=5)
    gt = parse_ground_truth("npz", gt_path)
    assert len(gt) == 5 and set(gt.splits) <= {"dev", "test"}
    with pytest.raises(GroundTruthImportError, match="unknown format 'obj'"):
        parse_ground_truth("obj", gt_path)
    with pytest.raises(GroundTruthImportError, match=r"takes no option\(s\) \['colour'\]"):
        parse_ground_truth("ehf", tmp_path, colour=1)
    with pytest.raises(GroundTruthImportError, match="no \\*_align.ply"):
        parse_ground_truth("ehf", tmp_path)


def test_ehf_import_scored_end_to_end(tmp_path, body_model):
    """Scoring the raw (scanner-frame) registration against the imported GT: the fixed rotation is
    all that separates them, so PA errors vanish while the pelvis-aligned PVE does not."""
    from evaluator.demo import random_gt_params

    verts = body_model.vertices(random_gt_params(2, np.random.default_rng(5))).numpy()
    for i, v in enumerate(verts):
        _write_ply(tmp_path / f"{i + 1:02d}_align.ply", v, binary=True)
    import_ground_truth("ehf", tmp_path, tmp_path / "gt.npz")
    np.savez(tmp_path / "raw.npz", sample_ids=np.array(["01", "02"]), vertices=verts)
    rows = get_protocol("ehf").per_sample(body_model, get_protocol("ehf").load_gt(tmp_path / "gt.npz"),
                                          load_sample_set(tmp_path / "raw.npz"))
    assert np.abs(rows["pa_mpvpe_all"]).max() < 1e-2 and np.abs(rows["pa_mpjpe_body"]).max() < 1e-2
    assert rows["mpvpe_all"].min() > 100  # a ~171 degree rotation about the pelvis is far from aligned


def _smplx_humandata(path, n=6, drop=(), **extra):
    rng = np.random.default_rng(8)
    smplx = {"global_orient": rng.normal(size=(n, 3)), "body_pose": rng.normal(size=(n, 21, 3)),
             "left_hand_pose": rng.normal(size=(n, 15, 3)), "right_hand_pose": rng.normal(size=(n, 15, 3)),
             "expression": rng.normal(size=(n, 10)), "betas": rng.normal(size=(n, 10)), "transl": rng.normal(size=(n, 3)),
             **extra}
    for key in drop:
        smplx.pop(key)
    meta = {"height": np.full(n, 720), "width": np.full(n, 1280), "valid_label": np.array([1, 0, 1, 1, 1, 1]),
            "iscrowd": np.zeros(n), "num_keypoints": np.full(n, 17)}
    boxes = np.tile([100.0, 100.0, 200.0, 400.0, 1.0], (n, 1))
    boxes[3] = [2000.0, 100.0, 200.0, 400.0, 1.0]  # right of a 1280-wide image: process_bbox gives None
    np.savez(path, image_path=np.array([f"v/{i}.jpg" for i in range(n)]), bbox_xywh=boxes,
             smplx=np.array(smplx, dtype=object), meta=np.array(meta, dtype=object))
    return smplx


def test_humandata_counts_every_official_drop_and_refuses_missing_required_keys(tmp_path):
    """SMPLest-X datasets/humandata.py HumanDataset.load_data: valid_label/iscrowd/num_keypoints skips, the
    row-index interval, then process_bbox None and betas_extra != 0 (kids) drop rows; the reference reads
    global_orient/body_pose/betas/transl unconditionally, and gates jaw+expression on both keys
    (process_human_model_output)."""
    _smplx_humandata(tmp_path / "hd.npz", drop=("transl",), betas_extra=np.array([[0.0], [0], [0], [0], [0], [0.4]]))
    with pytest.raises(GroundTruthImportError, match=r"no \['transl'\].*--fill-missing"):
        parse_ground_truth("humandata", tmp_path / "hd.npz")
    with pytest.raises(GroundTruthImportError, match="fill_missing takes"):
        parse_ground_truth("humandata", tmp_path / "hd.npz", fill_missing=["expression"])
    gt = parse_ground_truth("humandata", tmp_path / "hd.npz", fill_missing=["transl"])
    assert list(gt.sample_ids) == ["v/0.jpg#0", "v/2.jpg#2", "v/4.jpg#4"] and gt.rows_read == 6
    assert gt.skipped == {"meta.valid_label 0": 1, "bbox outside the image": 1, "betas_extra != 0 (a kid, SMPLest-X)": 1}
    assert gt.filled == {"transl (zeros)": 3, "jaw_pose (zeros)": 3} and not gt.arrays["transl"].any()

    smplx = _smplx_humandata(tmp_path / "nojaw.npz")  # no jaw_pose: the expression goes too
    gt = parse_ground_truth("humandata", tmp_path / "nojaw.npz", sample_interval=2)
    assert gt.skipped == {"meta.valid_label 0": 1, "off the sampling interval (every 2)": 2}
    assert gt.filled == {"jaw_pose (zeros)": 3}
    assert gt.adjusted["jaw_pose/expression zeroed (the other is missing)"] == 3 and not gt.arrays["expression"].any()
    large = (np.abs(smplx["betas"][[0, 2, 4]]) > 3).any(1).sum()
    assert gt.adjusted.get("betas zeroed (|beta| > 3)", 0) == large
