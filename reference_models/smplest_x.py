"""SMPLest-X (TPAMI'25): ViT + 80 task tokens + TransformerDecoderHead (spec §5).

No PositionNet/BoxNet/HandRoI: a 6-layer decoder (self-attention over task + patch tokens,
cross-attention to the patches, FFN; pre-norm) refines the tokens, a shared linear maps each to 512,
and one linear per parameter group reads the group's concatenated tokens. Explicit hand-root tokens
predict each wrist's global rotation. Module names follow the official ``models/module.py``
(SMPLCap/SMPLest-X), so an official state dict loads as is (see ``docs/reference_models.md``).
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import camera_translation
from .rotations import matrix_to_axis_angle, rot6d_to_matrix
from .vit import ViT, body_input, vit_size

# read-out order of the 80 task tokens: (official head name, token count, output width)
TOKEN_GROUPS: tuple[tuple[str, int, int], ...] = (
    ("body_root_pose", 1, 6),
    ("body_pose", 21, 21 * 6),
    ("body_shape", 10, 10),
    ("body_cam", 1, 3),
    ("hand_root_pose", 2, 2 * 6),
    ("hand_pose", 30, 30 * 6),
    ("hand_cam", 2, 2 * 3),
    ("face_root_pose", 1, 6),
    ("face_expression", 10, 10),
    ("face_jaw_pose", 1, 6),
    ("face_cam", 1, 3),
)
NUM_TASK_TOKENS = sum(n for _, n, _ in TOKEN_GROUPS)  # 80
# (per-token width, decoder depth, heads, dim_head): paper values; "tiny" is for CPU tests
PAPER_HEAD = (512, 6, 8, 64)
TINY_HEAD = (32, 2, 2, 16)


def _heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    return t.reshape(t.shape[0], t.shape[1], heads, -1).transpose(1, 2)


def _merge(t: torch.Tensor) -> torch.Tensor:
    return t.transpose(1, 2).flatten(2)


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_qkv = nn.Linear(dim, 3 * heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = (_heads(t, self.heads) for t in self.to_qkv(x).chunk(3, dim=-1))
        return self.to_out(_merge(nn.functional.scaled_dot_product_attention(q, k, v)))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        self.to_kv = nn.Linear(dim, 2 * heads * dim_head, bias=False)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        k, v = (_heads(t, self.heads) for t in self.to_kv(context).chunk(2, dim=-1))
        q = _heads(self.to_q(x), self.heads)
        return self.to_out(_merge(nn.functional.scaled_dot_product_attention(q, k, v)))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        # indices 0 and 3 as in the official Sequential(Linear, GELU, Dropout, Linear, Dropout)
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Identity(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fn = fn

    def forward(self, x: torch.Tensor, **kwargs) -> torch.Tensor:
        return self.fn(self.norm(x), **kwargs)


class TransformerCrossAttn(nn.Module):
    """``layers.i`` = [pre-norm self-attention, pre-norm cross-attention, pre-norm FFN], each residual."""

    def __init__(self, dim: int, depth: int, heads: int, dim_head: int):
        super().__init__()
        self.layers = nn.ModuleList(
            nn.ModuleList((PreNorm(dim, SelfAttention(dim, heads, dim_head)),
                           PreNorm(dim, CrossAttention(dim, heads, dim_head)),
                           PreNorm(dim, FeedForward(dim, dim))))
            for _ in range(depth))

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for self_attn, cross_attn, ffn in self.layers:
            x = x + self_attn(x)
            x = x + cross_attn(x, context=context)
            x = x + ffn(x)
        return x


class TransformerDecoder(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int):
        super().__init__()
        # present (and counted) in the official module but never applied by its forward pass
        self.to_token_embedding = nn.Linear(NUM_TASK_TOKENS, dim)
        self.pos_embedding = nn.Parameter(torch.randn(1, 1, dim))  # one learned vector added to every token
        self.transformer = TransformerCrossAttn(dim, depth, heads, dim_head)

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        return self.transformer(x + self.pos_embedding, context)


class TransformerDecoderHead(nn.Module):
    """Decoder over [task tokens + patch tokens] → per-token linear → one linear per parameter group."""

    def __init__(self, dim: int, dim_out: int, depth: int, heads: int, dim_head: int):
        super().__init__()
        self.transformer = TransformerDecoder(dim, depth, heads, dim_head)
        self.token_conv = nn.Linear(dim, dim_out)
        for name, count, width in TOKEN_GROUPS:
            self.add_module(f"dec_{name}", nn.Linear(count * dim_out, width))

    def forward(self, tokens: torch.Tensor, patches: torch.Tensor) -> dict[str, torch.Tensor]:
        x = self.transformer(torch.cat((tokens, patches), dim=1), patches)
        feat = self.token_conv(x[:, :NUM_TASK_TOKENS])
        out, start = {}, 0
        for name, count, _ in TOKEN_GROUPS:
            out[name] = getattr(self, f"dec_{name}")(feat[:, start:start + count].flatten(1))
            start += count
        return out


class SMPLestX(nn.Module):
    arch = "smplest_x"

    def __init__(self, size: str = "H"):
        super().__init__()
        self.size = size
        self.encoder = ViT(vit_size(size), NUM_TASK_TOKENS)
        c = self.encoder.embed_dim
        hidden, depth, heads, dim_head = TINY_HEAD if size == "tiny" else PAPER_HEAD
        self.decoder = TransformerDecoderHead(c, hidden, depth, heads, dim_head)

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens, fmap = self.encoder(body_input(img))
        raw = self.decoder(tokens, fmap.flatten(2).transpose(1, 2))
        dtype = torch.promote_types(raw["body_pose"].dtype, torch.float32)
        g = {k: v.to(dtype) for k, v in raw.items()}
        b = img.shape[0]
        hand_pose = rot6d_to_matrix(g["hand_pose"].reshape(b, 30, 6))
        rotmats = {
            "global_orient": rot6d_to_matrix(g["body_root_pose"]),
            "body_pose": rot6d_to_matrix(g["body_pose"].reshape(b, 21, 6)),
            "left_hand_pose": hand_pose[:, :15],
            "right_hand_pose": hand_pose[:, 15:],
            "jaw_pose": rot6d_to_matrix(g["face_jaw_pose"]),
        }
        out = {k: matrix_to_axis_angle(m) for k, m in rotmats.items()}
        out.update(betas=g["body_shape"], expression=g["face_expression"], transl=camera_translation(g["body_cam"]))
        out["rotmats"] = rotmats
        out["hand_root_rotmats"] = rot6d_to_matrix(g["hand_root_pose"].reshape(b, 2, 6))  # (B, 2, 3, 3) wrists (L, R)
        out["face_root_rotmat"] = rot6d_to_matrix(g["face_root_pose"])
        out["hand_transl"] = camera_translation(g["hand_cam"].reshape(2 * b, 3)).reshape(b, 2, 3)
        out["face_transl"] = camera_translation(g["face_cam"])
        return out
