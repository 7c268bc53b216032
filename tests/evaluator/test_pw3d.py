"""The "3dpw" protocol: gendered SMPL GT, 14 LSP joints (SMPLer-X and SMPLest-X variants)."""
from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch

from evaluator.formats import SampleSet, load_sample_set
from evaluator.protocols import get_protocol, load_protocol_models
from evaluator.smpl import smpl_meshes

from numpy_reference import err, rigid_align

# SMPLer-X PW3D.evaluate joint_mapper (SMPL / SMPL-X rows)
LSP = [1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21]
TOL_MM = 1e-3


@pytest.fixture(scope="module")
def models(smplx_model_dir):
    return load_protocol_models("3dpw", smplx_model_dir)


@pytest.fixture(scope="module")
def regs(models):
    jx = models.smplx.J_regressor.double().numpy()
    js = models.smpl.layers["neutral"].J_regressor.double().numpy()
    m = models.smpl.smplx2smpl
    return jx, js, m.indices.numpy(), m.weights.double().numpy()


def _map(idx, w, M):  # smplx2smpl applied to (V, 3)
    return (w[:, :, None] * M[idx]).sum(1)


def ref_smpler_x(M, G, jx, js):
    """Restatement of SMPLer-X PW3D.evaluate for one sample (float64)."""
    aligned = M - (jx @ M)[0] + (js @ G)[0]
    gt_j = (js @ G)[LSP]
    return {"mpjpe_body": err((jx @ aligned)[LSP], gt_j), "pa_mpjpe_body": err(rigid_align((jx @ M)[LSP], gt_j), gt_j)}


def ref_smplest_x(M, G, jx, js, idx, w):
    """Restatement of SMPLest-X HumanDataset.evaluate, 6890-vertex branch (float64)."""
    aligned = _map(idx, w, M - (jx @ M)[0] + (js @ G)[0])
    gt_j, out_j = (js @ G)[LSP], (js @ aligned)[LSP]
    return {"mpvpe_all": err(aligned, G), "pa_mpvpe_all": err(rigid_align(aligned, G), G),
            "mpjpe_body": err(out_j, gt_j), "pa_mpjpe_body": err(rigid_align(out_j, gt_j), gt_j)}


def _random_smpl_gt(n, rng):
    return {"global_orient": np.c_[np.pi + rng.normal(0, 0.1, n), rng.normal(0, 0.3, (n, 2))],
            "body_pose": rng.normal(0, 0.2, (n, 23, 3)), "betas": rng.normal(0, 1, (n, 10)),
            "transl": np.c_[rng.normal(0, 0.3, (n, 2)), rng.uniform(2, 8, n)]}


def _set(name, ids, arrays, meta=None, schema="smplx"):
    return SampleSet(name, ids, np.full(len(ids), "test"), arrays, meta or {}, schema)


@pytest.fixture(scope="module")
def data(models, smplx_model_dir):
    """GT SMPL params with genders, and SMPL-X vertex predictions 0-60 m off."""
    rng = np.random.default_rng(11)
    n = 6
    ids = np.array([f"pw_{i}" for i in range(n)])
    gt = {k: v.astype(np.float32) for k, v in _random_smpl_gt(n, rng).items()}
    genders = np.array(["male", "female", "neutral", "female", "male", "neutral"])
    # the test's own float64 GT meshes: smplx SMPL layers in float64, plus transl
    G = np.zeros((n, 6890, 3))
    for g in set(genders):
        layer = smplx.SMPL(str(smplx_model_dir / "smpl" / f"SMPL_{g.upper()}.npz"), gender=g, dtype=torch.float64,
                           data_struct=smplx.utils.Struct(**dict(np.load(smplx_model_dir / "smpl" / f"SMPL_{g.upper()}.npz"))))
        rows = np.flatnonzero(genders == g)
        with torch.no_grad():
            v = layer(**{k: torch.as_tensor(gt[k][rows], dtype=torch.float64).reshape(len(rows), -1)
                         for k in ("global_orient", "body_pose", "betas")}).vertices.numpy()
        G[rows] = v + gt["transl"][rows, None].astype(np.float64)
    from evaluator.demo import random_gt_params

    pred_params = random_gt_params(n, rng)
    pred_params["transl"] += np.array([0.0, 0.0, 1.0]) * np.linspace(0, 60, n)[:, None]
    M = models.smplx.vertices(pred_params).numpy()  # float32 absolute
    gt_set = _set("gt", ids, gt, {"gender": genders}, "smpl")
    return gt_set, _set("pred", ids, {"vertices": M}), G, M.astype(np.float64)


@pytest.mark.parametrize("variant", ["smpler-x", "smplest-x"])
def test_agrees_with_float64_restatement(models, regs, data, variant):
    gt_set, pred_set, G, M = data
    protocol = get_protocol("3dpw", {"joints": variant})
    rows = protocol.per_sample(models, gt_set, pred_set)
    jx, js, idx, w = regs
    for i in range(len(G)):
        ref = ref_smpler_x(M[i], G[i], jx, js) if variant == "smpler-x" else ref_smplest_x(M[i], G[i], jx, js, idx, w)
        assert set(ref) == set(protocol.metrics)
        for key, value in ref.items():
            assert abs(rows[key][i] - value) <= TOL_MM, (variant, i, key, rows[key][i], value)
    assert 10 < rows["mpjpe_body"].mean() < 1000


def test_protocol_metadata():
    p = get_protocol("3dpw")
    assert p.metrics == ("mpjpe_body", "pa_mpjpe_body") and p.parts == {"body"} and p.primary_metric == "mpjpe_body"
    assert get_protocol("3dpw", {"joints": "smplest-x"}).metrics[:2] == ("mpvpe_all", "pa_mpvpe_all")
    with pytest.raises(ValueError, match="joints"):
        get_protocol("3dpw", {"joints": "lsp"})


def test_gt_file_layout_and_gender_checks(tmp_path):
    path = tmp_path / "gt.npz"
    np.savez(path, sample_ids=np.array(["a", "b"]), global_orient=np.zeros((2, 3)), body_pose=np.zeros((2, 23, 3)),
             betas=np.zeros((2, 10)), transl=np.zeros((2, 3)), gender=np.array(["male", "FEMALE"]))
    gt = get_protocol("3dpw").load_gt(path)
    assert list(gt.meta["gender"]) == ["male", "female"] and gt.schema == "smpl"
    np.savez(path, sample_ids=np.array(["a"]), vertices=np.zeros((1, 6890, 3)), gender=np.array(["kid"]))
    with pytest.raises(ValueError, match="'kid'.*not one of"):
        load_sample_set(path, role="gt", schema="smpl")
    np.savez(path, sample_ids=np.array(["a"]), vertices=np.zeros((1, 10475, 3)))
    with pytest.raises(ValueError, match=r"expected shape \(1, 6890, 3\)"):
        load_sample_set(path, role="gt", schema="smpl")


def test_hand_computed_joint_error(models, regs):
    """GT = smplx2smpl(pred) whose regressor vertices map one-to-one: zero error; then moving the
    8 vertices that regress the left knee by 10 mm moves exactly one of 14 joints by 10 mm."""
    jx, js, idx, w = regs
    rng = np.random.default_rng(2)
    from evaluator.demo import random_gt_params

    M = models.smplx.vertices(random_gt_params(2, rng)).double().numpy()
    G = np.stack([_map(idx, w, m) for m in M])
    ids = np.array(["x", "y"])
    gt_set = _set("gt", ids, {"vertices": G.astype(np.float32)}, schema="smpl")
    knee = np.flatnonzero(jx[4])
    moved = M.copy()
    moved[:, knee] += [0.010, 0.0, 0.0]
    for variant in ("smpler-x", "smplest-x"):
        p = get_protocol("3dpw", {"joints": variant})
        same = p.per_sample(models, gt_set, _set("p", ids, {"vertices": M.astype(np.float32)}))
        assert np.abs(same["mpjpe_body"]).max() < 1e-3 and np.abs(same["pa_mpjpe_body"]).max() < 1e-3
        shifted = p.per_sample(models, gt_set, _set("p", ids, {"vertices": moved.astype(np.float32)}))
        np.testing.assert_allclose(shifted["mpjpe_body"], 10.0 / 14, atol=1e-3)


def test_params_gt_matches_vertex_gt(models, data):
    gt_set, pred_set, G, _ = data
    as_vertices = _set("gtv", gt_set.sample_ids, {"vertices": G.astype(np.float32)}, schema="smpl")
    p = get_protocol("3dpw")
    a, b = p.per_sample(models, gt_set, pred_set), p.per_sample(models, as_vertices, pred_set)
    for key in p.metrics:
        np.testing.assert_allclose(a[key], b[key], atol=TOL_MM)
    meshes = smpl_meshes(models.smpl, gt_set, np.arange(len(G)))
    assert np.abs(meshes.absolute().numpy() - G).max() < 1e-5
