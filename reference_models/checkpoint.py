"""Our checkpoints (save/load) and loading of official SMPLer-X / SMPLest-X weights.

Official weights are never downloaded here; pass a local file. The name mapping is documented in
``docs/reference_models.md``.
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from .models import build_model

# (official-name regex, our name) applied in order after stripping "module." (DataParallel/DDP prefix)
OFFICIAL_RENAMES: dict[str, list[tuple[str, str]]] = {
    "smpler_x": [
        (r"^encoder\.patch_embed\.proj\.", "encoder.patch_embed."),
        (r"^body_rotation_net\.body_conv\.0\.", "body_rotation_net.token_proj."),
        (r"^body_rotation_net\.root_pose_out\.0\.", "body_rotation_net.root_out."),
        (r"^body_rotation_net\.body_pose_out\.0\.", "body_rotation_net.body_out."),
        (r"^body_rotation_net\.(shape|cam)_out\.0\.", r"body_rotation_net.\1_out."),
        (r"^box_net\.bbox_center\.", "box_net.center."),
        (r"^box_net\.lhand_size\.", "box_net.sizes.0."),
        (r"^box_net\.rhand_size\.", "box_net.sizes.1."),
        (r"^box_net\.face_size\.", "box_net.sizes.2."),
        (r"^hand_rotation_net\.hand_conv\.", "hand_rotation_net.conv."),
        (r"^hand_rotation_net\.hand_pose_out\.0\.", "hand_rotation_net.pose_out."),
        (r"^face_regressor\.expr_out\.0\.", "face_regressor.expr_out."),
        (r"^face_regressor\.jaw_pose_out\.0\.", "face_regressor.jaw_out."),
    ],
    "smplest_x": [
        (r"^encoder\.patch_embed\.proj\.", "encoder.patch_embed."),
        (r"^head\.transformer\.layers\.(\d+)\.0\.fn\.", r"decoder.layers.\1.self_attn."),
        (r"^head\.transformer\.layers\.(\d+)\.0\.norm\.", r"decoder.layers.\1.norm_self."),
        (r"^head\.transformer\.layers\.(\d+)\.1\.fn\.", r"decoder.layers.\1.cross_attn."),
        (r"^head\.transformer\.layers\.(\d+)\.1\.norm\.", r"decoder.layers.\1.norm_cross."),
        (r"^head\.transformer\.layers\.(\d+)\.2\.fn\.net\.0\.", r"decoder.layers.\1.ffn.0."),
        (r"^head\.transformer\.layers\.(\d+)\.2\.fn\.net\.3\.", r"decoder.layers.\1.ffn.2."),
        (r"^head\.transformer\.layers\.(\d+)\.2\.norm\.", r"decoder.layers.\1.norm_ffn."),
    ],
}
ENCODER_POS_EMBED = "encoder.pos_embed"


def _unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    for key in ("network", "state_dict", "model"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key]
    return obj


def map_official_state_dict(arch: str, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    renames = [(re.compile(p), r) for p, r in OFFICIAL_RENAMES[arch]]
    out = {}
    for name, value in state.items():
        name = name.removeprefix("module.")
        for pattern, repl in renames:
            name = pattern.sub(repl, name)
        if name == ENCODER_POS_EMBED and value.shape[1] % 2 == 1:
            # ViTPose keeps a class-token slot and adds it to every patch position
            value = value[:, 1:] + value[:, :1]
        out[name] = value
    return out


def load_official_checkpoint(model: nn.Module, path: str | Path, strict: bool = False,
                             trusted: bool = False) -> dict[str, list[str]]:
    """Load an official SMPLer-X / SMPLest-X ``.pth.tar`` into our model.

    ``trusted=False`` uses ``torch.load(weights_only=True)``; pass ``trusted=True`` only for operator
    files that need full unpickling. Returns {"missing": [...], "unexpected": [...], "mismatched": [...]};
    ``strict`` raises if any list is non-empty.
    """
    raw = torch.load(path, map_location="cpu", weights_only=not trusted)
    mapped = map_official_state_dict(model.arch, _unwrap_state_dict(raw))
    own = model.state_dict()
    mismatched = [k for k, v in mapped.items() if k in own and own[k].shape != v.shape]
    loadable = {k: v for k, v in mapped.items() if k in own and k not in mismatched}
    result = model.load_state_dict(loadable, strict=False)
    report = {"missing": list(result.missing_keys), "unexpected": sorted(set(mapped) - set(own)),
              "mismatched": [f"{k}: {tuple(mapped[k].shape)} vs {tuple(own[k].shape)}" for k in mismatched]}
    if strict and any(report.values()):
        raise ValueError(f"{path}: official checkpoint does not match {model.arch}: {report}")
    return report


def save_checkpoint(path: str | Path, model: nn.Module, **extra) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"arch": model.arch, "size": model.size, "model": model.state_dict(), **extra}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild the model recorded in one of our checkpoints; returns (model, full checkpoint dict)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    for key in ("arch", "size", "model"):
        if key not in ckpt:
            raise ValueError(f"{path}: not a reference_models checkpoint (missing {key!r})")
    model = build_model(ckpt["arch"], ckpt["size"])
    model.load_state_dict(ckpt["model"])
    return model, ckpt
