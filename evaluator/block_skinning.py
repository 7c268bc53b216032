"""Linear blend skinning over blocks of vertices that share a few joints (the lean forward's skinning).

SMPL-X skins each vertex to a handful of joints, so the dense ``W (V, J) @ A (J, 12)`` spends most of
its multiply-adds on zero weights. Here the vertices are ordered by the joints that move them and cut
into blocks of ``BLOCK`` vertices; each block multiplies only the transforms of the joints its own
vertices use (padded to the largest such set, ``width``), one batched GEMM for all blocks. On the
synthetic model (<= 2 joints per vertex) that is 7 of 55 joints per block and 1/8 of the dense work.
A model whose weights do not cluster falls back to one block of every vertex and joint: the plain
dense GEMM, the same numbers either way (each output is the same sum over the same nonzero terms,
plus exact zeros).

The blend shapes and the skinning then work in "block order": vertex ``order[p]`` sits at position
``p`` (padding positions hold a zero vertex with zero weights), and ``restore`` puts the result back
into the model's vertex order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

BLOCK = 128  # vertices per block: 64-256 measured alike on 2 cores (the GEMMs are tiny either way)
# Blocks are used only if they do at most this share of the dense multiply-adds; otherwise one block.
MAX_SHARE = 0.5


@dataclass(frozen=True)
class BlockSkinning:
    order: np.ndarray  # (blocks * block,) vertex id at each block-order position, -1 = padding
    joints: Tensor  # (blocks, width) long: columns of the transforms each block uses
    weights: Tensor  # (blocks, width, block): those joints' weights for the block's vertices
    restore: Tensor  # (V,) long: block-order position of each vertex

    @property
    def num_blocks(self) -> int:
        return self.weights.shape[0]

    @property
    def block(self) -> int:
        return self.weights.shape[2]

    @classmethod
    def build(cls, weights: np.ndarray, dtype: torch.dtype, device: torch.device | str = "cpu",
              block: int = BLOCK, max_share: float = MAX_SHARE) -> "BlockSkinning":
        """From skinning weights (V, J): blocks if they pay (see MAX_SHARE), else one dense block."""
        num_verts, num_joints = weights.shape
        nonzero = weights != 0
        # Vertices moved by the same joints end up next to each other: by dominant joint, then joint set.
        keys = [(int(np.argmax(np.abs(weights[v]))), tuple(np.flatnonzero(nonzero[v]))) for v in range(num_verts)]
        order = np.array(sorted(range(num_verts), key=keys.__getitem__), dtype=np.int64)
        num_blocks = -(-num_verts // block)
        order = np.concatenate([order, np.full(num_blocks * block - num_verts, -1, dtype=np.int64)])
        sets = [np.flatnonzero(nonzero[ids[ids >= 0]].any(0)) for ids in order.reshape(num_blocks, block)]
        width = max(1, max(len(s) for s in sets))
        if num_blocks * width * block > max_share * num_joints * num_verts:
            return cls._dense(weights, dtype, device)
        joints = np.zeros((num_blocks, width), dtype=np.int64)  # padding joints get zero weights below
        block_weights = np.zeros((num_blocks, width, block))
        for b, (ids, used) in enumerate(zip(order.reshape(num_blocks, block), sets)):
            joints[b, : len(used)] = used
            real = ids >= 0
            block_weights[b, : len(used), real] = weights[ids[real]][:, used]
        return cls._make(order, joints, block_weights, num_verts, dtype, device)

    @classmethod
    def _dense(cls, weights: np.ndarray, dtype, device) -> "BlockSkinning":
        num_verts, num_joints = weights.shape
        return cls._make(np.arange(num_verts), np.arange(num_joints)[None], weights.T[None], num_verts, dtype, device)

    @classmethod
    def _make(cls, order, joints, block_weights, num_verts, dtype, device) -> "BlockSkinning":
        restore = np.empty(num_verts, dtype=np.int64)
        real = order >= 0
        restore[order[real]] = np.flatnonzero(real)
        return cls(order=order, joints=torch.as_tensor(joints, device=device),
                   weights=torch.as_tensor(block_weights, dtype=dtype, device=device).contiguous(),
                   restore=torch.as_tensor(restore, device=device))

    def block_columns(self, per_vertex: np.ndarray) -> np.ndarray:
        """(V, C) per-vertex values -> (blocks, C, block) in block order, zeros at padding positions."""
        out = np.zeros((len(self.order), per_vertex.shape[1]), dtype=per_vertex.dtype)
        real = self.order >= 0
        out[real] = per_vertex[self.order[real]]
        return out.reshape(self.num_blocks, self.block, -1).transpose(0, 2, 1)

    def skin(self, transforms: Tensor, rest: Tensor, out: Tensor | None = None) -> Tensor:
        """Posed points (b, 3, V) in model order (written into ``out`` if given).

        ``transforms``: (b, 12, J) per-joint 3x4 transforms, entry (k, i) = column k, row i of [R | t];
        ``rest``: (b, blocks, 3, block) blend-shaped rest vertices in block order.
        """
        b = transforms.shape[0]
        # Gathers run on 2-D views: advanced indexing or index_select over a 3-D tensor's last axis cost
        # 5-9x more here.
        a = transforms.reshape(b * 12, -1).index_select(1, self.joints.flatten())
        a = a.view(b * 12, self.num_blocks, -1).transpose(0, 1)  # (blocks, b*12, width) view
        # The batch is the GEMMs' outer dimension (12 rows per sample, always a multiple of 4), so a
        # sample's vertices do not depend on how many samples are skinned together.
        per_vertex = torch.matmul(a, self.weights).view(self.num_blocks, b, 4, 3, self.block)
        x = rest.transpose(0, 1)  # (blocks, b, 3, block) view
        posed = torch.addcmul(per_vertex[:, :, 3], per_vertex[:, :, 0], x[:, :, 0:1])
        posed.addcmul_(per_vertex[:, :, 1], x[:, :, 1:2]).addcmul_(per_vertex[:, :, 2], x[:, :, 2:3])
        flat = posed.permute(1, 2, 0, 3).reshape(b * 3, -1)  # (b*3, blocks*block) in block order
        if out is None:
            out = flat.new_empty(b, 3, len(self.restore))
        torch.index_select(flat, 1, self.restore, out=out.view(b * 3, -1))
        return out
