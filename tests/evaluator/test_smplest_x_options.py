"""SMPLest-X variants of the generic recipe, each checked against its definition."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from evaluator.demo import noisy_predictions, random_gt_params
from evaluator.formats import SampleSet
from evaluator.protocols import get_protocol
from evaluator.protocols.smplx_generic import SmplxGeneric

from numpy_reference import err, make_hand_regressor, rigid_align

TOL_MM = 1e-3


@pytest.fixture(scope="module")
def sets(body_model):
    rng = np.random.default_rng(21)
    n = 6
    gt = random_gt_params(n, rng)
    pred = noisy_predictions(gt, rng, level=2.0)
    ids = np.array([f"s{i}" for i in range(n)])
    flags = {"lhand_valid": np.array([1, 0, 1, 0, 1, 1], bool), "rhand_valid": np.array([1, 1, 0, 0, 1, 1], bool)}
    f32 = lambda d: {k: v.astype(np.float32) for k, v in d.items()}  # noqa: E731
    gt_set = SampleSet("gt", ids, np.full(n, "test"), f32(gt), flags)
    pred_set = SampleSet("pred", ids, np.full(n, "test"), f32(pred))
    G = body_model.vertices(gt_set.take(np.arange(n))).double().numpy()
    M = body_model.vertices(pred_set.take(np.arange(n))).double().numpy()
    return gt_set, pred_set, G, M


def test_hand_joints_20_and_wrist_relative_hand_mpjpe(body_model, sets):
    gt_set, pred_set, G, M = sets
    rows = get_protocol("smplx-generic", {"hand_joints": 20, "hand_mpjpe": True}).per_sample(body_model, gt_set, pred_set)
    J = body_model.J_regressor.double().numpy()
    for side, w in (("left", 20), ("right", 21)):
        HR = make_hand_regressor(J, side)[1:]  # SMPLest-X drops the wrist row
        k = side[0]
        for i in range(len(G)):
            hg, hm = HR @ G[i], HR @ M[i]
            assert abs(rows[f"pa_mpjpe_{k}_hand"][i] - err(rigid_align(hm, hg), hg)) <= TOL_MM
            # non-PA hand MPJPE: both sides wrist-relative (see docs/metrics.md)
            assert abs(rows[f"mpjpe_{k}_hand"][i] - err(hm - (J @ M[i])[w], hg - (J @ G[i])[w])) <= TOL_MM


def test_hand_validity_weights(body_model, sets):
    gt_set, pred_set, _, _ = sets
    plain = get_protocol("smplx-generic").per_sample(body_model, gt_set, pred_set)
    valid = get_protocol("smplx-generic", {"hand_validity": True}).per_sample(body_model, gt_set, pred_set)
    lv, rv = gt_set.meta["lhand_valid"], gt_set.meta["rhand_valid"]
    for prefix in ("mpvpe", "pa_mpvpe", "pa_mpjpe"):
        left, right, both = (valid[f"{prefix}_{s}"] for s in ("l_hand", "r_hand", "hand"))
        assert np.isnan(left[~lv]).all() and np.isnan(right[~rv]).all()
        np.testing.assert_allclose(left[lv], plain[f"{prefix}_l_hand"][lv])
        only_l, only_r, two = lv & ~rv, rv & ~lv, lv & rv
        np.testing.assert_allclose(both[only_l], plain[f"{prefix}_l_hand"][only_l])
        np.testing.assert_allclose(both[only_r], plain[f"{prefix}_r_hand"][only_r])
        np.testing.assert_allclose(both[two], plain[f"{prefix}_hand"][two])
        assert np.isnan(both[~lv & ~rv]).all()  # SMPLest-X would divide 0 by 0: no value here
    sums = get_protocol("smplx-generic", {"hand_validity": True}).score(body_model, gt_set, pred_set)["test"]
    assert sums.counts["mpvpe_l_hand"] == lv.sum() and sums.counts["mpvpe_hand"] == (lv | rv).sum()
    assert sums.counts["mpvpe_all"] == 6


def test_hand_outlier_filter_follows_the_loop():
    t = lambda *v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    values = {"pa_mpjpe_l_hand": t(150.0, 20.0, 100.0, 20.0, float("nan")),
              "pa_mpjpe_r_hand": t(30.0, 150.0, 30.0, 25.0, 120.0),
              "pa_mpjpe_hand": t(90.0, 85.0, 65.0, 22.5, 120.0)}
    out = {k: v.numpy() for k, v in SmplxGeneric._outliers(values, 100.0).items()}
    # sample 0: left > 100 -> `continue` drops left, right and the average
    # sample 1: right > 100 -> drops right and the average; sample 2: left == 100 -> dropped alone
    # sample 4: invalid (NaN) left, right > 100 -> right and the average dropped
    np.testing.assert_array_equal(out["pa_mpjpe_l_hand"], [np.nan, 20.0, np.nan, 20.0, np.nan])
    np.testing.assert_array_equal(out["pa_mpjpe_r_hand"], [np.nan, np.nan, 30.0, 25.0, np.nan])
    np.testing.assert_array_equal(out["pa_mpjpe_hand"], [np.nan, np.nan, 65.0, 22.5, np.nan])
