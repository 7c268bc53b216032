"""Starting points for training: the ViTPose backbone and the official ``fine_tune`` modes.

ViTPose (``pretrained_models/vitpose_{small,base,large,huge}.pth``, the mmpose TopDown checkpoints the SMPLer-X
configs name as ``encoder_pretrained_model_path``): ``{"state_dict": {"backbone.*": ViT, "keypoint_head.*":
COCO heat-map head}}``. SMPLer-X ``main/SMPLer_X.py`` (``get_model``) loads it into the pose network with
``strict=False`` and keeps only ``.backbone`` as its encoder, so the ViT blocks, patch embedding, position
embedding and last norm come from ViTPose, while the task tokens (absent from ViTPose) and the keypoint head
(dropped) do not. Here that is explicit: every encoder tensor except the task tokens must be filled, nothing
else is accepted, and the report says what was loaded.

``fine_tune`` (SMPLer-X ``common/base.py``, ``Trainer._make_model``): ``backbone`` freezes the neck and head
and trains the encoder; ``neck_and_head`` freezes the encoder; ``head`` freezes the encoder and the neck.
Neck = ``box_net``, ``hand_roi_net``; head = ``body_position_net``, ``body_regressor``, ``hand_position_net``,
``hand_regressor``, ``face_regressor`` (``Model.neck`` / ``Model.head``). SMPLest-X has no neck; its head is
the ``decoder``.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .checkpoint import LoadReport, load_state, unwrap_state_dict

VITPOSE_PREFIX = "backbone."
VITPOSE_HEAD_PREFIX = "keypoint_head."
ENCODER_ONLY_OURS = ("task_tokens",)  # encoder tensors SMPLer-X / SMPLest-X add to ViTPose's
FINE_TUNE_MODES = ("backbone", "neck_and_head", "head")
NECK = {"smpler_x": ("box_net", "hand_roi_net"), "smplest_x": ()}
HEAD = {"smpler_x": ("body_position_net", "body_regressor", "hand_position_net", "hand_regressor", "face_regressor"),
        "smplest_x": ("decoder",)}


class PretrainedMismatch(ValueError):
    """A ViTPose checkpoint does not fit the encoder."""


def load_vitpose(model: nn.Module, state: dict[str, torch.Tensor] | str | Path) -> LoadReport:
    """Fill ``model.encoder`` from a ViTPose state dict (or file); raise PretrainedMismatch unless it fits.

    ``backbone.`` is the legacy name of ``encoder.`` that ``checkpoint.load_state`` already maps."""
    if not isinstance(state, dict):
        state = unwrap_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    head = [k for k in state if k.removeprefix("module.").startswith(VITPOSE_HEAD_PREFIX)]
    body = {k: v for k, v in state.items() if k not in head}
    report = load_state(model, body, "ViTPose checkpoint", allow_partial=True)
    report.missing = [k for k in report.missing if k.startswith("encoder.")
                      and k.removeprefix("encoder.") not in ENCODER_ONLY_OURS]
    report.unexpected += [k for k in body if not k.removeprefix("module.").startswith(VITPOSE_PREFIX)
                          and k not in report.unexpected]
    report.ignored += head
    if not report.complete:
        raise PretrainedMismatch(f"ViTPose checkpoint does not fit the {model.size} encoder: {report.describe()}")
    return report


def apply_fine_tune(model: nn.Module, mode: str | None) -> dict[str, int]:
    """Freeze parts as the official ``fine_tune`` option; returns trainable / frozen parameter counts."""
    if mode is not None and mode not in FINE_TUNE_MODES:
        raise ValueError(f"fine_tune must be one of {FINE_TUNE_MODES} or null, got {mode!r}")
    frozen: list[str] = []
    if mode == "backbone":
        frozen = [*NECK[model.arch], *HEAD[model.arch]]
    elif mode == "neck_and_head":
        frozen = ["encoder"]
    elif mode == "head":
        frozen = ["encoder", *NECK[model.arch]]
    for name in frozen:
        getattr(model, name).requires_grad_(False)
    counts = {"trainable": 0, "frozen": 0}
    for p in model.parameters():
        counts["trainable" if p.requires_grad else "frozen"] += p.numel()
    return counts
