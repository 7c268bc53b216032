"""Reference models: rotations, sizes, shapes, training signal, checkpoints, inference output."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.baselines import baseline_rows
from reference_models.body import SMPLXJoints
from reference_models.checkpoint import load_checkpoint, load_official_checkpoint, save_checkpoint
from reference_models.data.augment import flip_smplx_params
from reference_models.data.dataset import CropDataset
from reference_models.data.sources import load_manifest
from reference_models.data.synthetic import make_synthetic_image_set
from reference_models.infer import predict
from reference_models.losses import compute_losses
from reference_models.models import build_model
from reference_models.params import PUBLISHED_PARAMS, count_parameters
from reference_models.rotations import axis_angle_to_matrix, matrix_to_axis_angle, matrix_to_rot6d, rot6d_to_axis_angle
from reference_models.smplx_layout import PARAM_SHAPES


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from evaluator.synthetic_model import make_synthetic_model
    root = tmp_path_factory.mktemp("rm")
    model_dir = make_synthetic_model(root / "smplx_model")
    data_dir = make_synthetic_image_set(root / "images", model_dir, num=6, seed=3)
    return model_dir, data_dir


def test_rot6d_to_axis_angle_recovers_rotation():
    torch.manual_seed(0)
    axis = torch.nn.functional.normalize(torch.randn(500, 3), dim=-1)
    angle = torch.rand(500, 1) * (torch.pi - 1e-3)
    aa = axis * angle
    mats = axis_angle_to_matrix(aa)
    # a non-orthonormal 6D input (scaled, skewed columns) must map to the same rotation
    six = matrix_to_rot6d(mats).reshape(500, 3, 2) * torch.tensor([2.0, 0.7])
    six[..., 1] += 0.3 * six[..., 0]
    assert torch.allclose(rot6d_to_axis_angle(six.reshape(500, 6)), aa, atol=1e-4)
    assert torch.allclose(matrix_to_axis_angle(torch.eye(3)[None]), torch.zeros(1, 3))


@pytest.mark.parametrize("arch,size", sorted(PUBLISHED_PARAMS))
def test_parameter_counts_match_papers(arch, size):
    n = count_parameters(arch, size)
    assert abs(n / PUBLISHED_PARAMS[(arch, size)] - 1) < 0.03, n


@pytest.mark.parametrize("arch", ["smpler_x", "smplest_x"])
def test_output_shapes(arch):
    model = build_model(arch, "tiny").eval()
    out = model(torch.rand(2, 3, 256, 192))
    for key, shape in PARAM_SHAPES.items():
        assert out[key].shape == (2, *shape), key
        assert torch.isfinite(out[key]).all()
    assert (out["transl"][:, 2] > 0).all()
    with pytest.raises(ValueError, match="256, 192"):
        model(torch.rand(1, 3, 224, 224))


@pytest.mark.parametrize("arch", ["smpler_x", "smplest_x"])
def test_a_few_steps_reduce_the_loss(arch, synthetic):
    model_dir, data_dir = synthetic
    torch.manual_seed(0)
    ds = CropDataset(load_manifest(data_dir))
    batch = torch.utils.data.default_collate([ds[i] for i in range(4)])
    body = SMPLXJoints(model_dir)
    model = build_model(arch, "tiny").train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    totals = []
    for _ in range(8):
        losses = compute_losses(arch, model(batch["img"]), batch, body)
        opt.zero_grad()
        losses["total"].backward()
        opt.step()
        totals.append(losses["total"].item())
    assert totals[-1] < 0.8 * totals[0], totals


def test_flip_is_an_involution_and_swaps_hands():
    rng = np.random.default_rng(0)
    params = {k: rng.normal(size=s).astype(np.float32) for k, s in PARAM_SHAPES.items() if k != "transl"}
    flipped = flip_smplx_params(params)
    np.testing.assert_allclose(flipped["left_hand_pose"], params["right_hand_pose"] * [1, -1, -1])
    np.testing.assert_allclose(flipped["body_pose"][0], params["body_pose"][1] * [1, -1, -1])  # hips swap
    back = flip_smplx_params(flipped)
    for k in params:
        np.testing.assert_allclose(back[k], params[k])


def test_checkpoint_roundtrip(tmp_path):
    model = build_model("smplest_x", "tiny").eval()
    save_checkpoint(tmp_path / "c.pth", model, step=3)
    loaded, ckpt = load_checkpoint(tmp_path / "c.pth")
    assert ckpt["step"] == 3 and loaded.arch == "smplest_x"
    img = torch.rand(1, 3, 256, 192)
    assert torch.equal(model(img)["body_pose"], loaded.eval()(img)["body_pose"])


def test_official_checkpoint_names_are_mapped(tmp_path):
    src = build_model("smpler_x", "tiny")
    ours = src.state_dict()
    renamed = {
        "encoder.patch_embed.weight": "encoder.patch_embed.proj.weight",
        "body_rotation_net.root_out.weight": "body_rotation_net.root_pose_out.0.weight",
        "box_net.sizes.1.0.weight": "box_net.rhand_size.0.weight",
        "face_regressor.jaw_out.bias": "face_regressor.jaw_pose_out.0.bias",
    }
    official = {"module." + renamed.get(k, k): v.clone() for k, v in ours.items() if k != "encoder.pos_embed"}
    cls_slot = torch.randn(1, 1, ours["encoder.pos_embed"].shape[-1])
    official["module.encoder.pos_embed"] = torch.cat([cls_slot, ours["encoder.pos_embed"] - cls_slot], 1)
    torch.save({"network": official, "epoch": 9}, tmp_path / "snapshot_9.pth.tar")
    dst = build_model("smpler_x", "tiny")
    report = load_official_checkpoint(dst, tmp_path / "snapshot_9.pth.tar", strict=True)
    assert report == {"missing": [], "unexpected": [], "mismatched": []}
    for k, v in ours.items():
        assert torch.allclose(dst.state_dict()[k], v, atol=1e-6), k


def test_infer_writes_a_valid_predictions_file(synthetic, tmp_path):
    from evaluator.formats import load_sample_set
    _, data_dir = synthetic
    preds = predict(build_model("smpler_x", "tiny"), data_dir, batch_size=4, progress=False)
    np.savez(tmp_path / "pred.npz", **preds)
    sample_set = load_sample_set(tmp_path / "pred.npz", role="pred")
    assert sorted(map(str, sample_set.sample_ids)) == sorted(s.sample_id for s in load_manifest(data_dir))


def test_baseline_rows_have_sources():
    mpe = {r.method: r.metrics["mpe"] for r in baseline_rows("mpe")}
    assert mpe["SMPLer-X-H32"] == 63.0 and mpe["SMPLer-X-S32"] == 82.6
    assert all(r.source and (r.third_party or r.benchmark == "mpe") for r in baseline_rows())
