"""The generated synthetic SMPL model and smplx2smpl mapping (written by make-synthetic-model)."""
from __future__ import annotations

import numpy as np
import torch

from evaluator.smpl import load_smpl_models
from evaluator.synthetic_smpl import SMPL_PARENTS

# SMPL kinematic tree (parents of joints 0-23), as in the SMPL model files' kintree_table
REAL_SMPL_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]


def test_real_shapes_tree_and_genders(smplx_model_dir):
    models = load_smpl_models(smplx_model_dir)
    assert set(models.layers) == {"neutral", "male", "female"}
    layer = models.layers["neutral"]
    assert layer.get_num_verts() == 6890 and layer.J_regressor.shape == (24, 6890) and layer.faces.shape == (13776, 3)
    assert layer.parents.tolist() == REAL_SMPL_PARENTS == SMPL_PARENTS.tolist()
    assert layer.shapedirs.shape == (6890, 3, 10) and layer.posedirs.shape == (207, 6890 * 3)
    np.testing.assert_allclose(layer.J_regressor.sum(1).numpy(), 1.0, atol=1e-6)
    assert models.smplx2smpl.indices.shape == (6890, 3)
    np.testing.assert_allclose(models.smplx2smpl.row_sums.numpy(), 1.0, atol=1e-6)


def test_mapping_agrees_with_smplx_in_the_rest_pose(smplx_model_dir, body_model):
    """smplx2smpl @ SMPL-X(betas) == SMPL(betas) for zero pose (template and shape directions mapped)."""
    smpl = load_smpl_models(smplx_model_dir)
    betas = torch.as_tensor(np.random.default_rng(0).normal(size=(2, 10)), dtype=torch.float32)
    zeros = lambda n: np.zeros((2, n), np.float32)  # noqa: E731
    smplx_v = body_model.vertices({"global_orient": zeros(3), "body_pose": zeros(63), "left_hand_pose": zeros(45),
                                   "right_hand_pose": zeros(45), "jaw_pose": zeros(3), "betas": betas.numpy(),
                                   "expression": zeros(10), "transl": zeros(3)})
    # flat_hand_mean=False: SMPL-X's zero hand pose still bends the fingers; compare body vertices only
    m = smpl.smplx2smpl
    mapped = torch.einsum("rk,brkd->brd", m.weights, smplx_v[:, m.indices])
    rest = smpl.layers["neutral"](betas=betas, global_orient=torch.zeros(2, 3), body_pose=torch.zeros(2, 69)).vertices
    hands = np.concatenate([body_model.left_hand_ids.numpy(), body_model.right_hand_ids.numpy()])
    body = torch.as_tensor(~np.isin(m.indices.numpy(), hands).any(1))
    assert body.sum() > 5000
    assert torch.abs(mapped - rest)[:, body].max() < 1e-5


def test_trusted_pkl_files_and_clear_errors(smplx_model_dir, tmp_path):
    """The licensed SMPL_*.pkl (a pickled dict, read by smplx itself) loads like the npz; a folder
    without a neutral model is an error naming the expected file."""
    import pickle

    import pytest

    from evaluator.smpl import SmplFilesError, clear_smpl_model_cache, load_smpl_models

    (tmp_path / "smpl").mkdir()
    with np.load(smplx_model_dir / "smpl" / "SMPL_NEUTRAL.npz") as z:
        (tmp_path / "smpl" / "SMPL_NEUTRAL.pkl").write_bytes(pickle.dumps({k: z[k] for k in z.files}))
    clear_smpl_model_cache()
    models = load_smpl_models(tmp_path)
    reference = load_smpl_models(smplx_model_dir)
    assert set(models.layers) == {"neutral"} and models.smplx2smpl is None
    torch.testing.assert_close(models.layers["neutral"].v_template, reference.layers["neutral"].v_template)
    with pytest.raises(SmplFilesError, match="smplx2smpl"):
        models.require_mapping()
    with pytest.raises(SmplFilesError, match="SMPL_NEUTRAL.npz"):
        load_smpl_models(tmp_path / "empty")
