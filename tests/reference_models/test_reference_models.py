"""Reference models: rotations, sizes, shapes, training signal, checkpoints, inference output."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.baselines import baseline_rows
from reference_models.body import SMPLXJoints
from reference_models.checkpoint import load_checkpoint, save_checkpoint
from reference_models.data.augment import flip_smplx_params
from reference_models.data.dataset import CropDataset
from reference_models.data.sources import load_manifest
from reference_models.data.synthetic import make_synthetic_image_set
from reference_models.infer import predict
from reference_models.losses import compute_losses
from reference_models.models import build_model
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


def _infer(*args: str):
    from reference_models.infer import main
    return main(list(args))


def test_infer_refuses_partial_checkpoints_of_both_kinds(synthetic, tmp_path, capsys):
    _, data_dir = synthetic
    model = build_model("smpler_x", "tiny")
    ours = tmp_path / "ours.pth"
    save_checkpoint(ours, model)
    ckpt = torch.load(ours, weights_only=True)
    del ckpt["model"]["face_regressor.jaw_pose_out.0.bias"]
    torch.save(ckpt, ours)
    official = tmp_path / "snapshot_0.pth.tar"
    state = {"module." + k: v for k, v in model.state_dict().items() if not k.startswith("box_net.lhand_size")}
    state["module.smplx_layer.v_template"] = torch.zeros(10475, 3)  # body-model buffer: set aside, not an error
    torch.save({"network": state}, official)
    runs = {"ours": ("--checkpoint", str(ours)), "official": ("--official", str(official), "--arch", "smpler_x", "--size", "tiny")}
    for name, source in runs.items():
        out = tmp_path / f"{name}.npz"
        with pytest.raises(SystemExit) as exit_info:
            _infer(*source, "--benchmark", str(data_dir), "--out", str(out))
        assert exit_info.value.code == 2 and not out.exists()
        err = capsys.readouterr().err
        assert "--allow-partial" in err
        missing = "face_regressor.jaw_pose_out.0.bias" if name == "ours" else "box_net.lhand_size.0.weight"
        assert missing in err and "missing" in err, err
        _infer(*source, "--benchmark", str(data_dir), "--out", str(out), "--allow-partial", "--batch-size", "6")
        assert np.load(out)["body_pose"].shape == (6, 21, 3)


def test_synthetic_gt_scores_as_is_and_keypoints_still_train(synthetic, tmp_path):
    from evaluator.__main__ import main as evaluator_main
    model_dir, data_dir = synthetic
    preds = predict(build_model("smplest_x", "tiny"), data_dir, batch_size=6, progress=False)
    np.savez(tmp_path / "pred.npz", **preds)
    code = evaluator_main(["score", "--gt", str(data_dir / "gt.npz"), "--pred", str(tmp_path / "pred.npz"),
                           "--model-dir", str(model_dir), "--json", str(tmp_path / "scores.json"), "--quiet"])
    assert code in (0, None) and (tmp_path / "scores.json").is_file()
    records = load_manifest(data_dir)
    assert all(r.keypoints2d is not None and (r.keypoints2d[:, 2] > 0).all() for r in records)


def test_preprocessing_presets():
    from reference_models.data.crop import warp_image
    from reference_models.models import INFERENCE_BOX_RATIO
    from PIL import Image
    assert INFERENCE_BOX_RATIO == {"smpler_x": 1.25, "smplest_x": 1.2}
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (512, 384, 3), dtype=np.uint8))
    identity = np.diag([0.5, 0.5, 1.0])  # the crop maps the 512×384 image onto itself
    full = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255
    np.testing.assert_allclose(warp_image(img, identity, "nearest"), full[:, ::2, ::2], atol=1 / 255)
    box = full.reshape(3, 256, 2, 192, 2).mean((2, 4))
    np.testing.assert_allclose(warp_image(img, identity, "box"), box, atol=1 / 255)
    # the model-level path: a 512×384 crop is reduced by nearest neighbour, like the official models
    model = build_model("smpler_x", "tiny").eval()
    crop = torch.rand(1, 3, 512, 384)
    with torch.no_grad():
        assert torch.equal(model(crop)["body_pose"], model(crop[:, :, ::2, ::2])["body_pose"])


def test_training_writes_only_under_out_dir(tmp_path, monkeypatch):
    from reference_models.config import TrainConfig
    from reference_models.train import train
    monkeypatch.chdir(tmp_path)  # anything written relative to the working directory would land here
    cfg = TrainConfig.load("tiny_smplest_x")
    cfg.out_dir = str(tmp_path / "run")
    for entry in (*cfg.train, *cfg.val):
        entry["num"] = 4
    cfg.batch_size, cfg.max_steps, cfg.num_workers = 2, 2, 0
    train(cfg)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    run = tmp_path / "run"
    assert {"smplx_synthetic", "data", "log.jsonl", "last.pth"} <= {p.name for p in run.iterdir()}
    assert load_checkpoint(run / "last.pth")[0].arch == "smplest_x"
