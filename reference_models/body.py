"""Differentiable SMPL-X joints for the training losses and the synthetic renderer.

Uses ``smplx`` directly (neutral layer, 10 betas, 10 expression coefficients, full hand pose,
``flat_hand_mean=False``, like the reference models) on the model directory layout of
``evaluator.assets`` (``MODEL_DIR/smplx/SMPLX_NEUTRAL.npz``; a synthetic one comes from
``python -m evaluator make-synthetic-model --out DIR``).
"""
from __future__ import annotations

import os
from pathlib import Path

import smplx
import torch
from torch import nn

from .smplx_layout import LHAND_JOINTS, LHAND_TIP_VERTICES, RHAND_JOINTS, RHAND_TIP_VERTICES

NUM_SKELETON_JOINTS = 55


def resolve_model_dir(model_dir: str | os.PathLike) -> Path:
    path = Path(model_dir).expanduser()
    if (path / "SMPLX_NEUTRAL.npz").is_file():
        path = path.parent
    if not (path / "smplx" / "SMPLX_NEUTRAL.npz").is_file():
        raise FileNotFoundError(
            f"no SMPL-X model at {path / 'smplx' / 'SMPLX_NEUTRAL.npz'} "
            "(generate one with `python -m evaluator make-synthetic-model --out DIR`)"
        )
    return path


class SMPLXJoints(nn.Module):
    """params (axis-angle, batch-first) → dict(joints (B,55,3), hand_tips (B,2,5,3), vertices)."""

    def __init__(self, model_dir: str | os.PathLike):
        super().__init__()
        self.layer = smplx.create(
            str(resolve_model_dir(model_dir)), "smplx", gender="neutral", ext="npz", use_pca=False,
            flat_hand_mean=False, num_betas=10, num_expression_coeffs=10, use_face_contour=False,
        )
        self.layer.requires_grad_(False)
        self.register_buffer("tip_ids", torch.tensor([LHAND_TIP_VERTICES, RHAND_TIP_VERTICES]), persistent=False)

    def forward(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        b = params["global_orient"].shape[0]
        zeros = params["global_orient"].new_zeros(b, 3)
        out = self.layer(
            global_orient=params["global_orient"].reshape(b, 3),
            body_pose=params["body_pose"].reshape(b, 63),
            left_hand_pose=params["left_hand_pose"].reshape(b, 45),
            right_hand_pose=params["right_hand_pose"].reshape(b, 45),
            jaw_pose=params["jaw_pose"].reshape(b, 3),
            leye_pose=zeros, reye_pose=zeros,
            betas=params["betas"], expression=params["expression"],
            transl=params.get("transl", zeros),
        )
        vertices = out.vertices
        return {
            "joints": out.joints[:, :NUM_SKELETON_JOINTS],
            "hand_tips": vertices[:, self.tip_ids],
            "vertices": vertices,
        }


def hand_position_joints(joints: torch.Tensor, hand_tips: torch.Tensor) -> torch.Tensor:
    """The 20 hand PositionNet joints per hand (15 finger joints + 5 tips): (B, 2, 20, 3)."""
    left = torch.cat((joints[:, list(LHAND_JOINTS)], hand_tips[:, 0]), dim=1)
    right = torch.cat((joints[:, list(RHAND_JOINTS)], hand_tips[:, 1]), dim=1)
    return torch.stack((left, right), dim=1)
