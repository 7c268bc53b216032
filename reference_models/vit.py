"""Plain ViT backbone (ViTPose layout) with extra learnable task tokens.

Input (B, 3, 256, 192) in [0, 1] → 16×12 patch tokens (patch 16). Task tokens are prepended to the
patch tokens and attend jointly through every block; the backbone returns both parts. Module and
parameter names follow the official ViT (SMPLer-X ``transformer_utils/mmpose/models/backbones/vit.py``,
SMPLest-X ``models/module.py``), so official state dicts load without renaming.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

INPUT_SHAPE = (256, 192)  # (H, W) fed to the ViT
PATCH_SIZE = 16
PATCH_PADDING = 2
CROP_SHAPE = (INPUT_SHAPE[0] * 2, INPUT_SHAPE[1] * 2)  # (512, 384): the official input_img_shape
FEATURE_SHAPE = (INPUT_SHAPE[0] // PATCH_SIZE, INPUT_SHAPE[1] // PATCH_SIZE)  # (16, 12)


@dataclass(frozen=True)
class ViTSize:
    embed_dim: int
    depth: int
    num_heads: int
    drop_path: float


VIT_SIZES: dict[str, ViTSize] = {
    "tiny": ViTSize(embed_dim=64, depth=2, num_heads=2, drop_path=0.0),  # CPU tests only
    "S": ViTSize(384, 12, 12, 0.1),
    "B": ViTSize(768, 12, 12, 0.3),
    "L": ViTSize(1024, 24, 16, 0.5),
    "H": ViTSize(1280, 32, 16, 0.55),
}


def vit_size(name: str) -> ViTSize:
    try:
        return VIT_SIZES[name]
    except KeyError:
        raise ValueError(f"unknown ViT size {name!r}; expected one of {sorted(VIT_SIZES)}") from None


class DropPath(nn.Module):
    """Stochastic depth: drops the whole residual branch per sample during training."""

    def __init__(self, prob: float):
        super().__init__()
        self.prob = prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.prob == 0.0:
            return x
        keep = 1.0 - self.prob
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep


class Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        out = nn.functional.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, drop_path: float, mlp_ratio: float = 4.0):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.drop_path = DropPath(drop_path)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """16×16 patches by a strided conv. Padding 2 (``4 + 2·(ratio//2 - 1)`` at ratio 1) as in ViTPose, so the
    256×192 input still gives 16×12 patches."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH_SIZE, stride=PATCH_SIZE, padding=PATCH_PADDING)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.proj(img).flatten(2).transpose(1, 2)


class ViT(nn.Module):
    """ViT encoder returning (task_tokens (B, T, C), feature map (B, C, 16, 12)).

    ``pos_embed`` keeps ViTPose's class-token slot (1, 1 + 192, C); that slot is added to every patch
    position, which is what the pre-trained checkpoints expect.
    """

    def __init__(self, size: ViTSize, num_task_tokens: int):
        super().__init__()
        dim = size.embed_dim
        self.embed_dim = dim
        self.patch_embed = PatchEmbed(dim)
        num_patches = FEATURE_SHAPE[0] * FEATURE_SHAPE[1]
        self.task_tokens = nn.Parameter(torch.zeros(1, num_task_tokens, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, dim))
        rates = [size.drop_path * i / max(size.depth - 1, 1) for i in range(size.depth)]  # deeper blocks drop more
        self.blocks = nn.ModuleList(Block(dim, size.num_heads, r) for r in rates)
        self.last_norm = nn.LayerNorm(dim, eps=1e-6)
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        nn.init.trunc_normal_(self.task_tokens, std=0.02)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if img.shape[-2:] != INPUT_SHAPE:
            raise ValueError(f"ViT input must be (B, 3, {INPUT_SHAPE[0]}, {INPUT_SHAPE[1]}), got {tuple(img.shape)}")
        patches = self.patch_embed(img) + self.pos_embed[:, 1:] + self.pos_embed[:, :1]
        num_tasks = self.task_tokens.shape[1]
        x = torch.cat((self.task_tokens.expand(img.shape[0], -1, -1), patches), dim=1)
        for block in self.blocks:
            x = block(x)
        x = self.last_norm(x)
        tasks, patches = x[:, :num_tasks], x[:, num_tasks:]
        fmap = patches.transpose(1, 2).reshape(img.shape[0], self.embed_dim, *FEATURE_SHAPE)
        return tasks, fmap


def body_input(img: torch.Tensor) -> torch.Tensor:
    """The ViT input: 256×192 as is, or the official 512×384 crop downsampled by nearest neighbour
    (``F.interpolate``'s default, as the official models do on their input)."""
    if img.shape[-2:] == CROP_SHAPE:
        return nn.functional.interpolate(img, INPUT_SHAPE)
    return img
