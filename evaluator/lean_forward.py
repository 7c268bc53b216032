"""A lean batched SMPL-X forward: the same vertices as ``smplx.SMPLX`` (to ~1e-7 m), a fraction of its time.

Built from an already loaded ``smplx.SMPLX`` layer (so the model files go through smplx's own loader) and
computing only what the metrics use, the posed mesh:

- shape and pose blend shapes in one GEMM (``[betas, expression, pose feature] @ [shapedirs; posedirs]``);
- rest joints from the regressor applied to the template and blend directions once, at build time;
- the kinematic chain composed level by level (one batched 4x4 matmul per tree depth, not per joint);
- skinning over blocks of vertices that share a few joints (evaluator.block_skinning: one batched GEMM over the
  blocks, a few samples at a time so the per-vertex transforms stay in cache), then the per-vertex 3x4
  transforms applied with three fused multiply-adds instead of a (B*V) batch of 4x4 matmuls; the blend
  shapes are laid out in the blocks' vertex order, and the result is put back in the model's order;
- the mesh left coordinate-major, (B, 3, V), as skinning produces it and the metrics consume it.

smplx's landmarks, face contour, extra-joint selection and output joints are skipped. The test
tests/evaluator/test_lean_forward.py checks it against ``smplx.SMPLX.forward``.
"""
from __future__ import annotations

import numpy as np
import smplx
import torch
from smplx.lbs import batch_rodrigues
from torch import Tensor

from .block_skinning import BlockSkinning

NUM_POSE_JOINTS = 55  # root, 21 body, jaw, 2 eyes, 2 x 15 fingers (smplx's full_pose order)
# Samples skinned per GEMM. Their per-vertex transforms (12 x V floats each, 4 MB for 8) stay in cache until
# applied; measured on 2 cores: 8 samples cost 0.6-0.8x the time per sample of 64, while the pose-blend GEMM
# wants the opposite (128+ rows: it streams the 64 MB blend matrix once per call), so it runs on the whole batch.
SKIN_CHUNK = 8


def _depth_levels(parents: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Joints grouped by depth in the kinematic tree: [(joint ids, their parents)], root level excluded."""
    depth = np.zeros(len(parents), dtype=np.int64)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1  # smplx orders parents before children
    return [(np.flatnonzero(depth == d), parents[depth == d]) for d in range(1, int(depth.max()) + 1)]


def _batch_addmm(bias: Tensor, rows: Tensor, weights: Tensor) -> Tensor:
    """``bias + rows @ weights`` whose every row is independent of how many rows there are.

    BLAS picks other kernels for a few rows (here: fewer than 12 and not a multiple of 4), which changes
    the last bit. Zero rows up to a multiple of 8 (at least 16) keep each sample's mesh independent of the
    chunk it is computed in, so any chunking or sharding of a benchmark gives the same sums.
    """
    batch = rows.shape[0]
    padded = max(16, -(-batch // 8) * 8)
    if padded != batch:
        rows = torch.cat([rows, rows.new_zeros(padded - batch, rows.shape[1])])
    return torch.addmm(bias, rows, weights)[:batch]


class LeanSMPLX:
    """Vertices (B, V, 3) of a neutral SMPL-X layer for flat axis-angle params (as ``smplx.SMPLX.forward``)."""

    def __init__(self, layer: smplx.SMPLX) -> None:
        if getattr(layer, "use_pca", False):
            raise ValueError("LeanSMPLX needs a layer built with use_pca=False (axis-angle hand poses)")
        dev, dtype = layer.v_template.device, layer.v_template.dtype
        f64 = {"dtype": torch.float64, "device": dev}
        v_template = layer.v_template.to(**f64)  # (V, 3)
        shapedirs = torch.cat([layer.shapedirs, layer.expr_dirs], dim=-1).to(**f64)  # (V, 3, S)
        num_verts, num_shape = v_template.shape[0], shapedirs.shape[-1]
        self.num_shape, self.num_verts = num_shape, num_verts
        posedirs = layer.posedirs.to(**f64)  # (P, V*3)
        j_reg = layer.J_regressor.to(**f64)  # (J, V)
        weights = layer.lbs_weights.to(dtype)  # (V, J)
        carrying = torch.nonzero(weights.abs().sum(0) > 0).flatten()
        self.skin_joints = carrying  # joints with any skinning weight
        self.skinning = BlockSkinning.build(weights[:, carrying].double().cpu().numpy(), dtype, dev)
        # One (S + P, blocks*3*block) matrix for both blend-shape GEMMs, its columns in the skinning's block
        # order, coordinate-major within each block: the result is what BlockSkinning.skin takes.
        blend_dirs = torch.cat([shapedirs.permute(2, 0, 1), posedirs.reshape(-1, num_verts, 3)])  # (K, V, 3)
        self.blend_dirs = self._block_rows(blend_dirs.to(dtype))  # reordered in the model dtype: half the copies
        del blend_dirs
        self.v_template = self._block_rows(v_template[None].to(dtype))
        # Rest joints are linear in the shape coefficients: J = J_reg @ (T + S b) = J_T + (J_reg S) b.
        self.joint_template = (j_reg @ v_template).to(dtype)  # (J, 3)
        self.joint_dirs = torch.einsum("jv,vcs->sjc", j_reg, shapedirs).reshape(num_shape, -1).to(dtype)
        self.pose_mean = layer.pose_mean.to(dtype).reshape(1, -1)
        parents = layer.parents.detach().cpu().numpy().astype(np.int64)
        self.parents = torch.as_tensor(parents, device=dev)
        self.levels = [(torch.as_tensor(ids, device=dev), torch.as_tensor(par, device=dev))
                       for ids, par in _depth_levels(parents)]
        self.num_betas = layer.shapedirs.shape[-1]
        self.device, self.dtype = dev, dtype

    def _block_rows(self, per_vertex: Tensor) -> Tensor:
        """(K, V, 3) per-vertex rows -> (K, blocks*3*block) contiguous, in block order (zeros at padding)."""
        K = per_vertex.shape[0]
        cols = self.skinning.block_columns(per_vertex.permute(1, 2, 0).reshape(self.num_verts, -1).cpu().numpy())
        cols = torch.as_tensor(cols, device=per_vertex.device).reshape(-1, 3, K, self.skinning.block)
        return cols.permute(2, 0, 1, 3).reshape(K, -1).contiguous()

    @torch.inference_mode()
    def vertices(self, global_orient: Tensor, body_pose: Tensor, left_hand_pose: Tensor, right_hand_pose: Tensor,
                 jaw_pose: Tensor, leye_pose: Tensor, reye_pose: Tensor, betas: Tensor, expression: Tensor,
                 transl: Tensor) -> Tensor:
        """Posed vertices (B, V, 3) in metres; every argument is a flat (B, n) tensor (see PARAM_SIZES).

        The result is a transposed view of (B, 3, V) storage (``.transpose(1, 2)`` is contiguous): the
        metrics work coordinate-major, so no point-major copy is made here (``.contiguous()`` makes one).
        """
        batch = global_orient.shape[0]
        full_pose = torch.cat([global_orient, body_pose, jaw_pose, leye_pose, reye_pose, left_hand_pose,
                               right_hand_pose], dim=1) + self.pose_mean  # (B, 165), smplx's joint order
        rot = batch_rodrigues(full_pose.reshape(-1, 3)).reshape(batch, NUM_POSE_JOINTS, 3, 3)
        shape = torch.cat([betas, expression], dim=1)  # (B, S)
        eye = torch.eye(3, dtype=self.dtype, device=self.device)
        features = torch.cat([shape, (rot[:, 1:] - eye).reshape(batch, -1)], dim=1)
        posed = _batch_addmm(self.v_template, features, self.blend_dirs).reshape(
            batch, self.skinning.num_blocks, 3, self.skinning.block)
        joints = _batch_addmm(self.joint_template.reshape(1, -1), shape, self.joint_dirs).reshape(batch, -1, 3)
        rel_transforms = self._chain(rot, joints)  # (B, J, 3, 4)

        # Skinning (evaluator.block_skinning) SKIN_CHUNK samples at a time, so their per-vertex transforms
        # stay in cache until applied; transforms laid out (b, column k * 3 + row i, joint).
        a = rel_transforms[:, self.skin_joints].permute(0, 3, 2, 1).reshape(batch, 12, -1)
        out = torch.empty(batch, 3, self.num_verts, dtype=self.dtype, device=self.device)
        for start in range(0, batch, SKIN_CHUNK):
            stop = min(start + SKIN_CHUNK, batch)
            self.skinning.skin(a[start: stop], posed[start: stop], out=out[start: stop])
        if transl.any():  # scoring passes zeros (transl is kept apart in float64): skip a pass over the mesh
            out += transl.unsqueeze(-1)
        return out.transpose(1, 2)  # a (B, V, 3) view of coordinate-major storage, as the metrics read it

    def _chain(self, rot: Tensor, joints: Tensor) -> Tensor:
        """World transforms relative to the rest pose, (B, J, 3, 4): [R | t - R j] per joint."""
        batch, num_joints = joints.shape[:2]
        rel = joints.clone()
        rel[:, 1:] -= joints[:, self.parents[1:]]
        local = torch.zeros(batch, num_joints, 4, 4, dtype=self.dtype, device=self.device)
        local[..., :3, :3] = rot
        local[..., :3, 3] = rel
        local[..., 3, 3] = 1.0
        world = local.clone()
        for ids, par in self.levels:
            world[:, ids] = world[:, par] @ local[:, ids]
        rotation, translation = world[..., :3, :3], world[..., :3, 3]
        offset = translation - (rotation @ joints.unsqueeze(-1)).squeeze(-1)
        return torch.cat([rotation, offset.unsqueeze(-1)], dim=-1)
