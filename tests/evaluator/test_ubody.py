"""The "ubody" protocol: errors only over GT points projecting inside the image."""
from __future__ import annotations

import numpy as np
import pytest

from evaluator.assets import load_part_files
from evaluator.demo import noisy_predictions, random_gt_params
from evaluator.formats import SampleSet, load_sample_set
from evaluator.metric_sums import MetricSums
from evaluator.protocols import get_protocol

from numpy_reference import err, make_hand_regressor, rigid_align

TOL_MM = 1e-3


def project(P, focal, princpt):
    """UBody.perspective_transform composed with bb2img_trans (a pinhole in image pixels)."""
    return P[:, :2] / (P[:, 2:] + 1e-4) * focal + princpt


def inside(xy, size):
    return (xy[:, 0] > 0) & (xy[:, 0] < size[0]) & (xy[:, 1] > 0) & (xy[:, 1] < size[1])


def ref_ubody(M, G, cam, J, J14, lhand, rhand, face):
    """Restatement of SMPLer-X UBody.evaluate for one sample (float64); missing -> absent key."""
    focal, princpt, size = cam
    HR = {"l": make_hand_regressor(J, "left"), "r": make_hand_regressor(J, "right")}
    vis = inside(project(G, focal, princpt), size)
    out = {}
    mean = lambda d, m: (d[m].mean() * 1000) if m.any() else None  # noqa: E731
    dist = lambda a, b: np.linalg.norm(a - b, axis=-1)  # noqa: E731
    jM, jG = J @ M, J @ G
    out["pa_mpvpe_all"] = mean(dist(rigid_align(M, G), G), vis)
    out["mpvpe_all"] = mean(dist(M - jM[0] + jG[0], G), vis)
    for k, ids, w in (("l", lhand, 20), ("r", rhand, 21)):
        out[f"pa_mpvpe_{k}_hand"] = mean(dist(rigid_align(M[ids], G[ids]), G[ids]), vis[ids])
        out[f"mpvpe_{k}_hand"] = mean(dist(M[ids] - jM[w] + jG[w], G[ids]), vis[ids])
        hj_g = HR[k] @ G
        out[f"pa_mpjpe_{k}_hand"] = mean(dist(rigid_align(HR[k] @ M, hj_g), hj_g), inside(project(hj_g, focal, princpt), size))
    out["pa_mpvpe_face"] = mean(dist(rigid_align(M[face], G[face]), G[face]), vis[face])
    out["mpvpe_face"] = mean(dist(M[face] - jM[12] + jG[12], G[face]), vis[face])
    bj_g = J14 @ G
    out["pa_mpjpe_body"] = mean(dist(rigid_align(J14 @ M, bj_g), bj_g), inside(project(bj_g, focal, princpt), size))
    for p in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        present = [out[f"{p}_{k}_hand"] for k in "lr" if out[f"{p}_{k}_hand"] is not None]
        out[f"{p}_hand"] = float(np.mean(present)) if present else None
    return out


@pytest.fixture(scope="module")
def case(body_model, smplx_model_dir):
    """8 people; image sizes chosen so that samples 0-3 lose the left hand entirely and the
    others are cropped through the middle of the body (one image axis each)."""
    rng = np.random.default_rng(4)
    n = 8
    gt = random_gt_params(n, rng)
    pred = noisy_predictions(gt, rng, level=1.5)
    G = body_model.vertices(gt).double().numpy()
    M = body_model.vertices(pred).double().numpy()
    focal, princpt = np.full((n, 2), 1200.0), np.tile([640.0, 360.0], (n, 1))
    parts = load_part_files(smplx_model_dir)
    size = np.zeros((n, 2))
    for i in range(n):
        xy = project(G[i], focal[i], princpt[i])
        if i < 4:  # the left hand (largest x) just outside
            size[i] = (xy[parts.left_hand, 0].min() - 1.0, 2000.0)
        else:  # lower body cut off below the left hand; 0.37 px keeps the edge off every vertex
            size[i] = (2000.0, max(np.quantile(xy[:, 1], 0.6), xy[parts.left_hand, 1].max()) + 0.37)
    ids = np.array([f"u{i}" for i in range(n)])
    gt_set = SampleSet("gt", ids, np.full(n, "test"), {"vertices": G.astype(np.float32)},
                       {"focal": focal, "princpt": princpt, "image_size": size}, "smplx-camera")
    pred_set = SampleSet("pred", ids, np.full(n, "test"), {"vertices": M.astype(np.float32)})
    return gt_set, pred_set, G.astype(np.float32).astype(np.float64), M.astype(np.float32).astype(np.float64), parts


def test_agrees_with_masked_float64_restatement(body_model, case):
    gt_set, pred_set, G, M, parts = case
    protocol = get_protocol("ubody")
    rows = protocol.per_sample(body_model, gt_set, pred_set)
    J = body_model.J_regressor.double().numpy()
    for i in range(len(G)):
        cam = (gt_set.meta["focal"][i], gt_set.meta["princpt"][i], gt_set.meta["image_size"][i])
        ref = ref_ubody(M[i], G[i], cam, J, parts.j14_regressor, parts.left_hand, parts.right_hand, parts.face)
        for key, value in ref.items():
            if value is None:
                assert np.isnan(rows[key][i]), (i, key)
            else:
                assert abs(rows[key][i] - value) <= TOL_MM, (i, key, rows[key][i], value)
    # the left hand is out of the image for samples 0-3: skipped, and the average is the right hand
    assert np.isnan(rows["mpvpe_l_hand"][:4]).all() and not np.isnan(rows["mpvpe_l_hand"][4:]).any(), rows["mpvpe_l_hand"]
    np.testing.assert_array_equal(rows["mpvpe_hand"][:4], rows["mpvpe_r_hand"][:4])
    sums = protocol.score(body_model, gt_set, pred_set)["test"]
    assert sums.num_samples == 8 and sums.counts["mpvpe_l_hand"] == 4 and sums.counts["mpvpe_hand"] == 8
    assert sums.means()["mpvpe_l_hand"] == pytest.approx(np.nanmean(rows["mpvpe_l_hand"]), abs=1e-6)


def test_points_outside_the_image_do_not_count(body_model, case):
    """Hand-computed: moving only out-of-image vertices that no regressor uses by 1 m leaves every
    non-Procrustes error at exactly the perfect prediction's 0."""
    gt_set, _, G, _, parts = case
    cam = [gt_set.meta[k] for k in ("focal", "princpt", "image_size")]
    used = set(body_model.assets.columns.tolist())
    P = G.copy()
    for i in range(len(G)):
        out = ~inside(project(G[i], cam[0][i], cam[1][i]), cam[2][i])
        out[list(used)] = False
        P[i, out] += [1.0, 0.0, 0.0]
    pred = SampleSet("p", gt_set.sample_ids, gt_set.splits, {"vertices": P.astype(np.float32)})
    rows = get_protocol("ubody").per_sample(body_model, gt_set, pred)
    for key in ("mpvpe_all", "mpvpe_r_hand", "mpvpe_face", "mpjpe_body"):
        assert np.nanmax(rows[key]) < 1e-3, key
    unmasked = get_protocol("smplx-generic").per_sample(body_model, SampleSet(
        "g", gt_set.sample_ids, gt_set.splits, gt_set.arrays), pred)
    assert unmasked["mpvpe_all"].min() > 50  # the same prediction, counted everywhere


def test_gt_file_needs_camera_keys(tmp_path):
    path = tmp_path / "gt.npz"
    np.savez(path, sample_ids=np.array(["a"]), vertices=np.zeros((1, 10475, 3), np.float32))
    with pytest.raises(ValueError, match=r"missing keys \['focal', 'princpt', 'image_size'\]"):
        get_protocol("ubody").load_gt(path)
    np.savez(path, sample_ids=np.array(["a"]), vertices=np.zeros((1, 10475, 3), np.float32),
             focal=np.ones((1, 2)), princpt=np.ones((1, 2)), image_size=np.ones((1, 2)) * 10)
    gt = load_sample_set(path, role="gt", schema="smplx-camera")
    assert gt.meta["image_size"].shape == (1, 2)
    assert MetricSums.empty(["x"]).means() == {"x": None}


# Golden figures from running the official test-mode GT step (caizhongang/SMPLer-X data/UBody/UBody.py
# UBody_Part.load_data + __getitem__ -> targets smplx_pose/smplx_shape/smplx_expr, the parameters
# main/SMPLer_X.py generate_mesh_gt builds the GT mesh from; common/utils/preprocessing.py
# process_human_model_output zeroes invalid hands/face and any-|beta|>3 shapes) on
# ubody_synthetic.write_ubody_root(seed=21): per kept sample, the sum of absolute values.
OFFICIAL_IDS = ["Talk/7100", "Talk/7300", "Talk/7400", "Talk/7600", "Talk/7700", "Talk/7900", "Talk/8000", "Talk/8200"]
OFFICIAL_ABS_SUMS = {
    "left_hand_pose": [0.0, 10.545591, 9.499177, 0.0, 13.134702, 0.0, 9.169805, 8.848906],
    "right_hand_pose": [0.0, 10.476124, 0.0, 0.0, 0.0, 10.737447, 0.0, 0.0],
    "jaw_pose": [0.0, 0.0, 0.134695, 0.0, 0.442202, 0.143295, 0.0, 0.410136],
    "expression": [0.0, 0.0, 7.778276, 0.0, 9.137219, 7.980073, 0.0, 8.256673],
    "betas": [0.0, 14.404166, 15.562136, 10.983765, 0.0, 7.37588, 12.124551, 0.0],
}


def test_ubody_import_builds_gt_as_the_official_step(tmp_path):
    from evaluator.importers import parse_ground_truth
    from ubody_synthetic import write_ubody_root

    write_ubody_root(tmp_path / "UBody", seed=21)
    gt = parse_ground_truth("ubody", tmp_path / "UBody")
    assert list(gt.sample_ids) == OFFICIAL_IDS
    for key, sums in OFFICIAL_ABS_SUMS.items():
        ours = np.abs(gt.arrays[key].reshape(len(gt), -1)).sum(1)
        np.testing.assert_allclose(ours, sums, atol=2e-5, err_msg=key)
    assert gt.adjusted == {"betas zeroed (|beta| > 3)": 3,
                           "left_hand_pose zeroed (lefthand_valid false or missing)": 3,
                           "right_hand_pose zeroed (righthand_valid false or missing)": 4,
                           "right_hand_pose zeroed (rhand_valid false or missing)": 2,
                           "jaw_pose/expression zeroed (face_valid false or missing)": 4}
    assert gt.rows_read == 1200 and gt.skipped["off the sampling interval (every 100)"] == 1188
