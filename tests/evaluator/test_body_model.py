import numpy as np
import pytest
import torch

from evaluator.body_model import clear_body_model_cache, load_body_model
from evaluator.demo import random_gt_params
from evaluator.skeleton import HAND_TIP_VERTICES


def test_cached_per_directory(smplx_model_dir, body_model):
    assert load_body_model(smplx_model_dir) is body_model
    assert load_body_model(smplx_model_dir / "smplx") is body_model  # the smplx/ subfolder works too


def test_clearing_the_cache_reloads_the_files(smplx_model_dir):
    first = load_body_model(smplx_model_dir, dtype=torch.float64)  # a key no other test shares
    clear_body_model_cache()
    second = load_body_model(smplx_model_dir, dtype=torch.float64)
    assert second is not first and load_body_model(smplx_model_dir, dtype=torch.float64) is second


def test_vertices_shape_chunking_and_pose_layouts(body_model):
    params = random_gt_params(5, np.random.default_rng(0))
    whole = body_model.vertices(params)
    assert whole.shape == (5, 10475, 3) and whole.dtype == torch.float32
    np.testing.assert_allclose(body_model.vertices(params, chunk_size=2).numpy(), whole.numpy(), atol=1e-6)
    flat = {**params, "body_pose": params["body_pose"].reshape(5, 63), "leye_pose": np.zeros((5, 3))}
    np.testing.assert_allclose(body_model.vertices(flat).numpy(), whole.numpy(), atol=1e-6)
    assert 2.0 - 1.5 < whole[:, :, 2].mean() < 8.0 + 1.5  # transl z in 2..8 m puts people there


def test_param_errors(body_model):
    params = random_gt_params(2, np.random.default_rng(0))
    with pytest.raises(KeyError, match="missing \\['betas'\\]"):
        body_model.vertices({k: v for k, v in params.items() if k != "betas"})
    with pytest.raises(ValueError, match="betas: expected \\(2, 10\\), got \\(2, 11\\)"):
        body_model.vertices({**params, "betas": np.zeros((2, 11))})


def test_hand_regressors(body_model):
    J = body_model.J_regressor
    for side, hr, wrist in (("left", body_model.hand_regressor_left, 20), ("right", body_model.hand_regressor_right, 21)):
        assert hr.shape == (21, 10475)
        torch.testing.assert_close(hr[0], J[wrist])
        for k, tip in enumerate(HAND_TIP_VERTICES[side]):
            row = hr[4 * k + 4]
            assert row[tip] == 1 and row.sum() == 1
    assert body_model.j14_regressor.shape == (14, 10475)
    assert body_model.left_hand_ids.shape == (778,) and body_model.face_ids.shape == (5023,)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_matches_cpu(smplx_model_dir, body_model):
    from evaluator.metrics import compute_metrics
    gpu = load_body_model(smplx_model_dir, device="cuda")
    params = random_gt_params(3, np.random.default_rng(0))
    gt_cpu, gt_gpu = body_model.vertices(params), gpu.vertices(params)
    np.testing.assert_allclose(gt_gpu.cpu().numpy(), gt_cpu.numpy(), atol=1e-5)
    pred = gt_cpu + 0.01
    cpu_m = compute_metrics(pred, gt_cpu, body_model.assets)
    gpu_m = compute_metrics(pred.cuda(), gt_gpu, gpu.assets)
    for key, value in cpu_m.items():
        np.testing.assert_allclose(gpu_m[key].cpu().numpy(), value.numpy(), atol=1e-3)
