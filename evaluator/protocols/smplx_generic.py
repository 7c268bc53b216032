"""smplx-generic: the SMPLer-X / SMPLest-X ``HumanDataset.evaluate`` recipe on SMPL-X-topology GT.

Used for AGORA-val, EgoBody-EgoSet, EHF, ARCTIC, RenBody and any SMPL-X set. Options reproduce
SMPLest-X where its code differs from SMPLer-X (docs/metrics.md gives the size of each change):

- ``hand_joints`` 21 (SMPLer-X, wrist included) or 20 (SMPLest-X) joints in hand PA-MPJPE;
- ``hand_mpjpe``: also report non-PA, wrist-relative hand MPJPE (SMPLest-X ``mpjpe_*_hand``);
- ``hand_validity``: per-hand GT validity flags (GT keys ``lhand_valid``/``rhand_valid``) weight
  the hand averages and drop invalid hands from the per-hand metrics (SMPLest-X);
- ``hand_outlier_mm``: SMPLest-X's filter on hand PA-MPJPE (100 in its code), see ``_outliers``;
- ``variant``: "smplest-x" switches the four defaults above to SMPLest-X's.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..metric_names import EXTRA_METRICS, METRICS
from .base import OptionSpec, Protocol, ProtocolModels

if TYPE_CHECKING:  # torch is imported only when scoring, so protocol metadata stays light
    from torch import Tensor

    from ..metrics import PointMasks

_HAND_PREFIXES = ("mpvpe", "pa_mpvpe", "pa_mpjpe", "mpjpe")
SMPLEST_X_DEFAULTS = {"hand_joints": 20, "hand_mpjpe": True, "hand_validity": True, "hand_outlier_mm": 100.0}


def _positive_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0)


class SmplxGeneric(Protocol):
    name = "smplx-generic"
    version = "2"
    title = "SMPL-X whole body (SMPLer-X generic evaluator)"
    source = "SMPLer-X data/humandata.py HumanDataset.evaluate (+ SMPLest-X datasets/humandata.py options)"
    gt_schema = "smplx"
    primary_metric = "mpvpe_all"
    option_specs = {
        "variant": OptionSpec("smpler-x", ("smpler-x", "smplest-x"), doc="defaults of the options below"),
        "hand_joints": OptionSpec(None, (None, 20, 21), doc="joints in hand PA-MPJPE"),
        "hand_mpjpe": OptionSpec(None, (None, False, True), doc="report wrist-relative hand MPJPE"),
        "hand_validity": OptionSpec(None, (None, False, True), doc="use GT lhand_valid/rhand_valid"),
        "hand_outlier_mm": OptionSpec(None, check=_positive_or_none, doc="a positive number (mm) or None"),
    }

    def configure(self) -> None:
        defaults = SMPLEST_X_DEFAULTS if self.options["variant"] == "smplest-x" else {
            "hand_joints": 21, "hand_mpjpe": False, "hand_validity": False, "hand_outlier_mm": None}
        for key, value in defaults.items():
            if self.options[key] is None:
                self.options[key] = value
        self.parts = frozenset({"body", "hands", "face"})
        self.metrics = METRICS + (EXTRA_METRICS if self.options["hand_mpjpe"] else ())

    # --- hooks for subclasses ---------------------------------------------------------------
    def point_masks(self, models: ProtocolModels, gt_meshes, gt, gt_index) -> PointMasks | None:
        return None

    # --- scoring ---------------------------------------------------------------------------
    def chunk_values(self, models, gt, pred, gt_index, pred_index) -> dict[str, Tensor]:
        from ..meshes import smplx_meshes
        from ..metrics import compute_metrics

        body = models.smplx
        gt_meshes = smplx_meshes(body, gt, gt_index)
        masks = self.point_masks(models, gt_meshes, gt, gt_index)
        values = compute_metrics(smplx_meshes(body, pred, pred_index), gt_meshes, body.assets, masks=masks,
                                 hand_joints=self.options["hand_joints"], hand_mpjpe=self.options["hand_mpjpe"])
        if self.options["hand_validity"]:
            values = self._apply_validity(values, gt, gt_index, body.device)
        if self.options["hand_outlier_mm"] is not None:
            values = self._outliers(values, float(self.options["hand_outlier_mm"]))
        return values

    def _apply_validity(self, values: dict[str, Tensor], gt, gt_index, device) -> dict[str, Tensor]:
        """SMPLest-X: invalid hands leave the per-hand lists; averages weight hands by validity."""
        import torch

        from ..metrics import hand_mean

        n = len(gt_index)
        flags = [torch.as_tensor(np.asarray(gt.meta[k][gt_index]) if k in gt.meta else np.ones(n, bool), device=device)
                 for k in ("lhand_valid", "rhand_valid")]
        out = dict(values)
        for prefix in _HAND_PREFIXES:
            left, right = values.get(f"{prefix}_l_hand"), values.get(f"{prefix}_r_hand")
            if left is None:
                continue
            out[f"{prefix}_hand"] = hand_mean(left, right, (flags[0], flags[1]))
            out[f"{prefix}_l_hand"] = torch.where(flags[0], left, torch.nan)
            out[f"{prefix}_r_hand"] = torch.where(flags[1], right, torch.nan)
        return out

    @staticmethod
    def _outliers(values: dict[str, Tensor], limit: float) -> dict[str, Tensor]:
        """SMPLest-X's loop: a valid left hand with PA-MPJPE > limit drops both per-hand entries and
        the sample's hand average (its ``continue``); a right hand > limit drops itself and the
        average; a value exactly at the limit is dropped alone. Invalid hands are already NaN."""
        import torch

        left, right, both = values["pa_mpjpe_l_hand"], values["pa_mpjpe_r_hand"], values["pa_mpjpe_hand"]
        left_out, right_out = left > limit, right > limit
        skip = left_out | (~left_out & right_out)
        out = dict(values)
        out["pa_mpjpe_l_hand"] = torch.where(left < limit, left, torch.nan)
        out["pa_mpjpe_r_hand"] = torch.where(~left_out & (right < limit), right, torch.nan)
        out["pa_mpjpe_hand"] = torch.where(skip, torch.nan, both)
        return out


class Ehf(SmplxGeneric):
    """EHF: 100 frames, GT = the ``*_align.ply`` registrations (importer: evaluator.importers.ehf)."""

    name = "ehf"
    title = "EHF (SMPLer-X EHF.evaluate)"
    source = "SMPLer-X data/EHF/EHF.py EHF.evaluate"


class AgoraVal(SmplxGeneric):
    """AGORA validation set with local GT vertices (importer: evaluator.importers.agora)."""

    name = "agora-val"
    title = "AGORA validation (SMPLer-X AGORA.evaluate, vertex metrics)"
    source = "SMPLer-X data/AGORA/AGORA.py AGORA.evaluate"
