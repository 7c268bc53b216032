import math

import numpy as np
import pytest
import torch

import numpy_reference as ref
from evaluator.metrics import METRIC_LABELS, METRICS, MetricSums, compute_metrics
from evaluator.procrustes import procrustes_align_points as procrustes_align


def _reference(body_model, pred, gt):
    a = body_model.assets
    return ref.evaluate(pred.numpy(), gt.numpy(), body_model.J_regressor.double().numpy(),
                        a.j14_regressor.double().numpy(), a.left_hand.numpy(), a.right_hand.numpy(), a.face.numpy())


def _metrics(body_model, pred, gt):
    return {k: v.double().numpy() for k, v in compute_metrics(pred, gt, body_model.assets).items()}


def test_keys_and_labels():
    assert len(METRICS) == 15 and set(METRIC_LABELS) == set(METRICS)
    assert {v.part for v in METRIC_LABELS.values()} == {"all", "body", "hands", "face"}
    assert all(v.procrustes == k.startswith("pa_") for k, v in METRIC_LABELS.items())


def test_identical_meshes_give_zero(body_model, mesh_pair):
    _, gt = mesh_pair
    for key, values in _metrics(body_model, gt.clone(), gt.clone()).items():
        assert np.abs(values).max() < 1e-3, key


def test_matches_numpy_reference(body_model, mesh_pair):
    pred, gt = mesh_pair
    ours, theirs = _metrics(body_model, pred.clone(), gt.clone()), _reference(body_model, pred, gt)
    for key in METRICS:
        assert theirs[key].mean() > 1.0, key  # a real error, not a trivially zero case
        np.testing.assert_allclose(ours[key], theirs[key], rtol=0, atol=1e-4, err_msg=key)


def test_inplace_gives_same_values(body_model, mesh_pair):
    pred, gt = mesh_pair
    a = _metrics(body_model, pred.clone(), gt.clone())
    b = {k: v.double().numpy() for k, v in compute_metrics(pred.clone(), gt.clone(), body_model.assets, inplace=True).items()}
    for key in METRICS:
        np.testing.assert_array_equal(a[key], b[key])


def test_global_translation_is_removed(body_model, mesh_pair):
    _, gt = mesh_pair
    shifted = gt + torch.tensor([0.3, -0.2, 1.5])
    for key, values in _metrics(body_model, shifted, gt.clone()).items():
        assert np.abs(values).max() < 2e-3, key


def test_face_offset_known_values(body_model, mesh_pair):
    """Moving only the face by d: the neck (not a face vertex) stays, so face PVE = |d|."""
    _, gt = mesh_pair
    d = torch.tensor([0.003, -0.004, 0.0])  # 5 mm
    pred = gt.clone()
    pred[:, body_model.face_ids] += d
    m = _metrics(body_model, pred, gt.clone())
    np.testing.assert_allclose(m["mpvpe_face"], 5.0, atol=1e-3)
    np.testing.assert_allclose(m["pa_mpvpe_face"], 0.0, atol=1e-3)
    np.testing.assert_allclose(m["mpvpe_all"], 5.0 * 5023 / 10475, atol=1e-3)
    np.testing.assert_allclose(m["mpvpe_hand"], 0.0, atol=1e-3)


def test_hand_offset_is_wrist_aligned(body_model, mesh_pair):
    """The synthetic wrist joint is regressed from hand vertices: moving the whole left hand by d
    moves its wrist too, so wrist-aligned and PA hand errors vanish while PVE(all) does not."""
    _, gt = mesh_pair
    pred = gt.clone()
    pred[:, body_model.left_hand_ids] += torch.tensor([0.0, 0.01, 0.0])
    m = _metrics(body_model, pred, gt.clone())
    for key in ("mpvpe_l_hand", "pa_mpvpe_l_hand", "pa_mpjpe_l_hand", "mpvpe_r_hand"):
        np.testing.assert_allclose(m[key], 0.0, atol=1e-3, err_msg=key)
    np.testing.assert_allclose(m["mpvpe_all"], 10.0 * 778 / 10475, atol=1e-3)


def test_similarity_is_removed_by_procrustes_only(body_model, mesh_pair):
    _, gt = mesh_pair
    angle = 0.3
    R = torch.tensor([[math.cos(angle), 0, math.sin(angle)], [0, 1, 0], [-math.sin(angle), 0, math.cos(angle)]])
    centre = gt.mean(1, keepdim=True)
    pred = 1.1 * (gt - centre) @ R.T + centre + torch.tensor([0.1, 0.0, 0.2])
    m = _metrics(body_model, pred, gt.clone())
    expected = _reference(body_model, pred, gt)
    for key in METRICS:
        if key.startswith("pa_"):
            assert np.abs(m[key]).max() < 2e-3, key
        else:
            assert m[key].min() > 5.0, key
            np.testing.assert_allclose(m[key], expected[key], atol=1e-4, err_msg=key)


def test_procrustes_never_reflects():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 500, 3)) * [0.5, 0.2, 0.1]
    mirrored = gt * [-1.0, 1.0, 1.0]  # a reflection would align this perfectly
    aligned = procrustes_align(torch.from_numpy(mirrored), torch.from_numpy(gt)).numpy()
    for k in range(4):
        expected = ref.rigid_align(mirrored[k], gt[k])
        np.testing.assert_allclose(aligned[k], expected, atol=1e-9)
        assert ref.err(aligned[k], gt[k]) > 10.0


def test_metric_sums_merge_is_exact_and_order_free():
    rng = np.random.default_rng(1)
    values = {k: torch.from_numpy(rng.gamma(2.0, 20.0, 1000).astype(np.float32)) for k in METRICS}
    whole = MetricSums().add(values)
    perm = torch.from_numpy(rng.permutation(1000))
    parts = [MetricSums().add({k: v[perm[i: i + 37]] for k, v in values.items()}) for i in range(0, 1000, 37)]
    merged = MetricSums.merge_all(reversed(parts))
    assert merged == whole and merged.means() == whole.means()
    assert merged.counts["mpvpe_all"] == 1000
    np.testing.assert_allclose(whole.means()["mpvpe_all"], values["mpvpe_all"].double().mean().item(), rtol=1e-9)
    assert MetricSums.from_dict(whole.to_dict()) == whole
    assert MetricSums().means()["mpvpe_all"] is None
    with pytest.raises(ValueError):
        MetricSums.from_dict({"sums": {"a": 1.0}})
