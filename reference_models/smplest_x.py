"""SMPLest-X (TPAMI'25): ViT + 80 task tokens + TransformerDecoderHead (spec §5).

No PositionNet/BoxNet/HandRoI: every parameter group is read from its own task tokens after a
6-layer decoder; explicit hand-root tokens predict each wrist's global rotation.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import camera_translation, mlp
from .rotations import matrix_to_axis_angle, rot6d_to_matrix
from .vit import ViT, vit_size

# documented read-out order of the 80 task tokens: (group, count, output width)
TOKEN_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("body_root", 1, 6),
    ("body_pose", 21, 6),
    ("shape", 10, 1),
    ("body_cam", 1, 3),
    ("hand_root", 2, 6),
    ("hand_pose", 30, 6),
    ("hand_cam", 2, 3),
    ("face_root", 1, 6),
    ("expression", 10, 1),
    ("jaw", 1, 6),
    ("face_cam", 1, 3),
)
NUM_TASK_TOKENS = sum(n for _, n, _ in TOKEN_GROUPS)  # 80
# (per-token hidden width, decoder depth, heads, dim_head): paper values; "tiny" is for CPU tests
PAPER_HEAD = (512, 6, 8, 64)
TINY_HEAD = (32, 2, 2, 16)


class MultiHeadAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        inner = heads * dim_head
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        split = lambda t: t.reshape(b, t.shape[1], self.heads, -1).transpose(1, 2)  # noqa: E731
        q = split(self.to_q(x))
        k, v = (split(t) for t in self.to_kv(context).chunk(2, dim=-1))
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.to_out(out.transpose(1, 2).reshape(b, x.shape[1], -1))


class DecoderLayer(nn.Module):
    def __init__(self, dim: int, mlp_dim: int, heads: int, dim_head: int):
        super().__init__()
        self.norm_self = nn.LayerNorm(dim)
        self.self_attn = MultiHeadAttention(dim, heads, dim_head)
        self.norm_cross = nn.LayerNorm(dim)
        self.cross_attn = MultiHeadAttention(dim, heads, dim_head)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        h = self.norm_self(x)
        x = x + self.self_attn(h, h)
        x = x + self.cross_attn(self.norm_cross(x), patches)
        return x + self.ffn(self.norm_ffn(x))


class TransformerDecoderHead(nn.Module):
    """Self-attention over [task tokens + patch tokens], cross-attention to the encoder's patches."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, dim, heads, dim_head) for _ in range(depth))

    def forward(self, tokens: torch.Tensor, patches: torch.Tensor) -> torch.Tensor:
        x = torch.cat((tokens, patches), dim=1)
        for layer in self.layers:
            x = layer(x, patches)
        return x[:, : tokens.shape[1]]


class SMPLestX(nn.Module):
    arch = "smplest_x"

    def __init__(self, size: str = "H"):
        super().__init__()
        self.size = size
        self.encoder = ViT(vit_size(size), NUM_TASK_TOKENS)
        c = self.encoder.embed_dim
        hidden, depth, heads, dim_head = TINY_HEAD if size == "tiny" else PAPER_HEAD
        self.decoder = TransformerDecoderHead(c, depth, heads, dim_head)
        self.token_proj = nn.Linear(c, hidden)
        self.heads = nn.ModuleDict({name: mlp([hidden, width]) for name, _, width in TOKEN_GROUPS})

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens, fmap = self.encoder(img)
        patches = fmap.flatten(2).transpose(1, 2)
        feat = self.token_proj(self.decoder(tokens, patches))
        groups: dict[str, torch.Tensor] = {}
        start = 0
        for name, count, _ in TOKEN_GROUPS:
            groups[name] = self.heads[name](feat[:, start:start + count]).float()
            start += count
        hand_pose = rot6d_to_matrix(groups["hand_pose"])
        rotmats = {
            "global_orient": rot6d_to_matrix(groups["body_root"][:, 0]),
            "body_pose": rot6d_to_matrix(groups["body_pose"]),
            "left_hand_pose": hand_pose[:, :15],
            "right_hand_pose": hand_pose[:, 15:],
            "jaw_pose": rot6d_to_matrix(groups["jaw"][:, 0]),
        }
        out = {k: matrix_to_axis_angle(m) for k, m in rotmats.items()}
        out.update(
            betas=groups["shape"][..., 0],
            expression=groups["expression"][..., 0],
            transl=camera_translation(groups["body_cam"][:, 0]),
        )
        out["rotmats"] = rotmats
        out["hand_root_rotmats"] = rot6d_to_matrix(groups["hand_root"])  # (B, 2, 3, 3) global wrist rotations (L, R)
        return out
