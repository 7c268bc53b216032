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

from .checkpoint import LoadReport, unwrap_state_dict

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
    """Fill ``model.encoder`` from a ViTPose state dict (or file); raise PretrainedMismatch unless it fits."""
    if not isinstance(state, dict):
        state = unwrap_state_dict(torch.load(state, map_location="cpu", weights_only=True))
    own = model.encoder.state_dict()
    report, loadable = LoadReport(), {}
    for name, value in state.items():
        name = name.removeprefix("module.")
        if name.startswith(VITPOSE_HEAD_PREFIX):
            report.ignored.append(name)
            continue
        if not name.startswith(VITPOSE_PREFIX):
            report.unexpected.append(name)
            continue
        key = name[len(VITPOSE_PREFIX):]
        if key not in own:
            report.unexpected.append(name)
        elif own[key].shape != value.shape:
            report.mismatched.append(f"{name}: {tuple(value.shape)} vs {tuple(own[key].shape)}")
        else:
            loadable[key] = value
    report.missing = sorted(k for k in set(own) - set(loadable) if k not in ENCODER_ONLY_OURS
                            and not any(m.startswith(VITPOSE_PREFIX + k + ":") for m in report.mismatched))
    report.loaded = len(loadable)
    if not report.complete:
        raise PretrainedMismatch(f"ViTPose checkpoint does not fit the {model.size} encoder: {report.describe()}")
    model.encoder.load_state_dict(loadable, strict=False)
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
