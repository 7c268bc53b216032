"""TorchScript model archives for the runner and pipeline tests: a model that uses its input, and the zip builder."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch


class ParamsFromPixels(torch.nn.Module):
    """Emits every SMPL-X parameter; global_orient carries the crop's mean colour to prove the input arrives."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b = x.shape[0]
        zeros = torch.zeros(b, 1, dtype=x.dtype)
        return {
            "global_orient": x.mean(dim=(2, 3)),  # (B, 3)
            "body_pose": zeros.expand(b, 63), "left_hand_pose": zeros.expand(b, 45),
            "right_hand_pose": zeros.expand(b, 45), "jaw_pose": zeros.expand(b, 3),
            "betas": zeros.expand(b, 10), "expression": zeros.expand(b, 10), "transl": zeros.expand(b, 3),
        }


def make_archive(tmp_path: Path, module: torch.nn.Module, manifest: dict | None = None) -> Path:
    model_path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(module), str(model_path))
    archive = tmp_path / "submission.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(model_path, "model.pt")
        zf.writestr("manifest.json", json.dumps(manifest or {"format": "torchscript", "batch_size": 4}))
    return archive
