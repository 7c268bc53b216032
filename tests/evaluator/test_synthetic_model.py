import numpy as np
import pytest
import smplx
import torch

from evaluator import assets
from evaluator.skeleton import HAND_TIP_VERTICES, PARENTS
from evaluator.synthetic_model import make_synthetic_model

EXPECTED = {
    "v_template": (10475, 3), "f": (20908, 3), "shapedirs": (10475, 3, 400), "posedirs": (10475, 3, 486),
    "J_regressor": (55, 10475), "weights": (10475, 55), "kintree_table": (2, 55),
    "hands_componentsl": (45, 45), "hands_componentsr": (45, 45), "hands_meanl": (45,), "hands_meanr": (45,),
    "lmk_faces_idx": (51,), "lmk_bary_coords": (51, 3), "dynamic_lmk_faces_idx": (79, 17),
    "dynamic_lmk_bary_coords": (79, 17, 3),
}


@pytest.fixture(scope="module")
def neutral(smplx_model_dir):
    with np.load(smplx_model_dir / "smplx" / "SMPLX_NEUTRAL.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_real_keys_shapes_and_dtypes(neutral):
    assert {k: v.shape for k, v in neutral.items()} == EXPECTED
    for key, value in neutral.items():
        assert value.dtype != object
        if value.dtype.kind == "f":
            assert value.dtype == np.float32, key


def test_model_structure(neutral):
    np.testing.assert_allclose(neutral["J_regressor"].sum(1), 1.0, atol=1e-5)
    np.testing.assert_allclose(neutral["weights"].sum(1), 1.0, atol=1e-5)
    assert neutral["kintree_table"].dtype == np.uint32 and neutral["kintree_table"][0, 0] == 2**32 - 1
    np.testing.assert_array_equal(neutral["kintree_table"][0, 1:], PARENTS[1:])
    f = neutral["f"].astype(np.int64)
    assert f.min() >= 0 and f.max() < 10475
    assert (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all() and (f[:, 0] != f[:, 2]).all()
    assert neutral["lmk_faces_idx"].max() < len(f) and neutral["dynamic_lmk_faces_idx"].max() < len(f)
    height = np.ptp(neutral["v_template"][:, 1])
    assert 1.5 < height < 2.0  # a plausible adult in metres


@pytest.mark.parametrize("gender", ["neutral", "male", "female"])
@pytest.mark.parametrize("contour,num_joints", [(True, 144), (False, 127)])
def test_smplx_loads_and_runs(smplx_model_dir, gender, contour, num_joints):
    layer = smplx.create(str(smplx_model_dir), "smplx", gender=gender, use_pca=False,
                         use_face_contour=contour, ext="npz")
    B = 3
    out = layer(betas=torch.randn(B, 10), expression=torch.randn(B, 10), global_orient=torch.randn(B, 3),
                body_pose=0.2 * torch.randn(B, 63), left_hand_pose=0.2 * torch.randn(B, 45),
                right_hand_pose=0.2 * torch.randn(B, 45), jaw_pose=0.1 * torch.randn(B, 3),
                leye_pose=torch.zeros(B, 3), reye_pose=torch.zeros(B, 3), transl=torch.randn(B, 3))
    assert out.vertices.shape == (B, 10475, 3) and out.joints.shape == (B, num_joints, 3)
    assert torch.isfinite(out.vertices).all()


def test_genders_differ(smplx_model_dir):
    templates = [np.load(smplx_model_dir / "smplx" / f"SMPLX_{g}.npz")["v_template"] for g in ("NEUTRAL", "MALE", "FEMALE")]
    assert not np.allclose(templates[0], templates[1]) and not np.allclose(templates[1], templates[2])


def test_part_files(smplx_model_dir, neutral):
    parts = assets.load_part_files(smplx_model_dir)
    assert parts.left_hand.shape == parts.right_hand.shape == (778,)
    assert parts.face.shape == (5023,) and len(np.unique(parts.face)) == 5023
    assert parts.j14_regressor.shape == (14, 10475)
    np.testing.assert_allclose(parts.j14_regressor.sum(1), 1.0, atol=1e-5)
    owner = neutral["weights"].argmax(1)
    for side, ids, finger_joints in (("left", parts.left_hand, range(25, 40)), ("right", parts.right_hand, range(40, 55))):
        assert set(HAND_TIP_VERTICES[side]) <= set(ids.tolist())
        assert all(owner[v] in finger_joints for v in HAND_TIP_VERTICES[side])
    head_and_eyes = {15, 22, 23, 24}
    assert all(owner[v] in head_and_eyes for v in (9120, 9929, 9448, 616, 6))  # nose, eyes, ears
    assert np.isin(owner[parts.face], [12, *head_and_eyes]).all()  # neck: 50/50 skinned head ring


def test_deterministic(tmp_path, smplx_model_dir):
    make_synthetic_model(tmp_path / "again", seed=0)
    make_synthetic_model(tmp_path / "other", seed=1)
    ref = np.load(smplx_model_dir / "smplx" / "SMPLX_NEUTRAL.npz")
    again = np.load(tmp_path / "again" / "smplx" / "SMPLX_NEUTRAL.npz")
    other = np.load(tmp_path / "other" / "smplx" / "SMPLX_NEUTRAL.npz")
    for key in ("v_template", "shapedirs", "f"):
        np.testing.assert_array_equal(ref[key], again[key])
    assert not np.array_equal(ref["v_template"], other["v_template"])


def test_model_dir_errors(tmp_path):
    with pytest.raises(assets.ModelFilesError, match="make-synthetic-model"):
        assets.resolve_model_dir(tmp_path)
