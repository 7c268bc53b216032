"""The lean SMPL-X forward against smplx's own ``SMPLX.forward`` (issue 14: <= 1e-6 m)."""
from __future__ import annotations

import numpy as np
import pytest
import smplx
import torch

from evaluator.body_model import PARAM_SIZES
from evaluator.block_skinning import BlockSkinning
from evaluator.lean_forward import LeanSMPLX, _depth_levels

TOLERANCE_M = 1e-6


def random_params(batch: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    """Poses up to ~1 rad per axis, betas/expression ~N(0, 1.5), people 2-5 m in front of the camera."""
    params = {k: torch.randn(batch, n, generator=gen) * 0.6 for k, n in PARAM_SIZES.items()}
    params["betas"] = torch.randn(batch, 10, generator=gen) * 1.5
    params["expression"] = torch.randn(batch, 10, generator=gen) * 1.5
    params["transl"] = torch.rand(batch, 3, generator=gen) * torch.tensor([2.0, 2.0, 3.0]) + torch.tensor([-1.0, -1.0, 2.0])
    return params


def max_error(layer: smplx.SMPLX, lean: LeanSMPLX, params: dict[str, torch.Tensor]) -> float:
    with torch.inference_mode():
        reference = layer(**params, return_shaped=False).vertices
        fast = lean.vertices(**params)
    # coordinate-major storage seen as (B, V, 3), as the metrics read it
    assert fast.shape == reference.shape and fast.transpose(1, 2).is_contiguous()
    return float((fast - reference).abs().max())


@pytest.mark.parametrize("batch", [1, 7, 64, 129])
def test_matches_smplx_forward(body_model, batch):
    gen = torch.Generator().manual_seed(batch)
    for _ in range(3):  # several batches per size
        assert max_error(body_model.layer, body_model.lean, random_params(batch, gen)) <= TOLERANCE_M


def test_matches_smplx_with_dense_skinning_weights(smplx_model_dir):
    """The synthetic model skins each vertex to <= 2 joints; real SMPL-X spreads weight wider."""
    layer = smplx.create(str(smplx_model_dir), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                         flat_hand_mean=False, num_betas=10, num_expression_coeffs=10, ext="npz")
    gen = torch.Generator().manual_seed(11)
    weights = torch.rand(layer.lbs_weights.shape, generator=gen) ** 8  # a few dominant joints per vertex
    weights[:, 23] = 0.0  # a joint without any weight (the lean forward skips it)
    layer.lbs_weights.copy_(weights / weights.sum(1, keepdim=True))
    lean = LeanSMPLX(layer)
    assert len(lean.skin_joints) == 54 and lean.skinning.num_blocks == 1  # too dense for blocks
    for _ in range(2):
        assert max_error(layer, lean, random_params(16, gen)) <= TOLERANCE_M


def test_body_model_vertices_uses_lean_forward_and_keeps_reference(body_model):
    params = {k: v.numpy() for k, v in random_params(5, torch.Generator().manual_seed(3)).items()}
    fast, reference = body_model.vertices(params, chunk_size=2), body_model.vertices(params, reference=True)
    assert float((fast - reference).abs().max()) <= TOLERANCE_M


def test_depth_levels_put_parents_first():
    parents = np.array([-1, 0, 1, 1, 3, 0])
    levels = _depth_levels(parents)
    assert [ids.tolist() for ids, _ in levels] == [[1, 5], [2, 3], [4]]
    assert [par.tolist() for _, par in levels] == [[0, 0], [1, 1], [3]]


def test_pca_layer_is_refused(smplx_model_dir):
    layer = smplx.create(str(smplx_model_dir), "smplx", gender="neutral", use_pca=True, num_pca_comps=6, ext="npz")
    with pytest.raises(ValueError, match="use_pca=False"):
        LeanSMPLX(layer)


def test_a_samples_mesh_does_not_depend_on_its_batch(body_model):
    """Bit-identical rows whatever the chunk size, so sharding never changes a sum (see MetricSums)."""
    params = random_params(40, torch.Generator().manual_seed(5))
    whole = body_model.lean.vertices(**params)
    for batch in range(1, 21):
        part = body_model.lean.vertices(**{k: v[:batch] for k, v in params.items()})
        assert torch.equal(part, whole[:batch]), f"batch of {batch} differs"


def test_synthetic_weights_are_skinned_in_sparse_blocks(body_model):
    """Blocks of 128 vertices use at most 8 of the 55 joints, and hold exactly the model's weights."""
    skinning = body_model.lean.skinning
    weights = body_model.layer.lbs_weights[:, body_model.lean.skin_joints].double().numpy()
    assert skinning.num_blocks == -(-weights.shape[0] // 128) and skinning.joints.shape[1] <= 8
    rebuilt = np.zeros((len(skinning.order), weights.shape[1]))
    blocks = skinning.order.reshape(skinning.num_blocks, -1)
    for b, ids in enumerate(blocks):
        for slot, joint in enumerate(skinning.joints[b].tolist()):
            rebuilt[b * blocks.shape[1] + np.arange(blocks.shape[1]), joint] += skinning.weights[b, slot].double().numpy()
    real = skinning.order >= 0
    assert np.array_equal(rebuilt[real][np.argsort(skinning.order[real])], weights.astype(np.float32).astype(np.float64))
    assert not rebuilt[~real].any()  # padding positions carry no weight


def test_dense_weights_fall_back_to_one_block():
    weights = np.random.default_rng(0).random((1000, 20))
    skinning = BlockSkinning.build(weights, torch.float32)
    assert skinning.num_blocks == 1 and skinning.joints.shape == (1, 20)
    assert np.array_equal(skinning.order, np.arange(1000))


def test_matches_smplx_with_four_joints_per_vertex(smplx_model_dir):
    """Wider but still local weights (each vertex: its joints plus two of the next ones, as real SMPL-X
    blends across neighbouring joints) are skinned in blocks, and match smplx's forward."""
    layer = smplx.create(str(smplx_model_dir), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                         flat_hand_mean=False, num_betas=10, num_expression_coeffs=10, ext="npz")
    gen = torch.Generator().manual_seed(12)
    weights = layer.lbs_weights.clone()
    owner = weights.argmax(1)
    for step in (1, 2):
        weights[torch.arange(len(owner)), (owner + step) % weights.shape[1]] += 0.2 * torch.rand(len(owner), generator=gen)
    layer.lbs_weights.copy_(weights / weights.sum(1, keepdim=True))
    lean = LeanSMPLX(layer)
    assert 1 < lean.skinning.num_blocks and lean.skinning.joints.shape[1] < 20
    for batch in (1, 9):
        assert max_error(layer, lean, random_params(batch, gen)) <= TOLERANCE_M
