"""3dpw: MPJPE / PA-MPJPE of 14 LSP joints against a gendered SMPL mesh (3DPW test).

GT: SMPL params (``global_orient``, ``body_pose`` 23x3, ``betas`` 10, ``transl``, ``gender``) or
SMPL vertices (6890). Predictions: SMPL-X (params or vertices), as for every benchmark.

- ``joints="smpler-x"`` (default; SMPLer-X ``PW3D.evaluate``): prediction joints are the SMPL-X
  ``J_regressor`` rows LSP_ROWS of the predicted mesh, GT joints the SMPL 24-joint regressor's
  same rows; MPJPE after pelvis alignment (SMPL-X pelvis of the prediction onto SMPL pelvis of
  the GT), PA-MPJPE by similarity Procrustes. Only these two metrics.
- ``joints="smplest-x"`` (SMPLest-X ``HumanDataset.evaluate``, 6890-vertex branch): the
  pelvis-aligned SMPL-X mesh is mapped to SMPL topology with ``smplx2smpl`` and both meshes go
  through the SMPL regressor; adds PVE / PA-PVE over the 6890 SMPL vertices.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .base import OptionSpec, Protocol

if TYPE_CHECKING:
    from torch import Tensor

# SMPL / SMPL-X joint rows (the first 22 joints are the same in both): hips, knees, ankles, neck,
# head, shoulders, elbows, wrists (SMPLer-X PW3D.evaluate ``joint_mapper``, SMPLest-X LSP_MAPPIMG)
LSP_ROWS = (1, 2, 4, 5, 7, 8, 12, 15, 16, 17, 18, 19, 20, 21)
PELVIS = 0


class Pw3d(Protocol):
    name = "3dpw"
    version = "1"
    title = "3DPW test (SMPL GT, 14-joint MPJPE)"
    source = "SMPLer-X data/PW3D/PW3D.py PW3D.evaluate; SMPLest-X datasets/humandata.py (6890-vertex branch)"
    gt_schema = "smpl"
    needs_smpl = True
    primary_metric = "mpjpe_body"
    option_specs = {"joints": OptionSpec("smpler-x", ("smpler-x", "smplest-x"),
                                         doc="how prediction joints are obtained")}

    def configure(self) -> None:
        self.parts = frozenset({"body"})
        body = ("mpjpe_body", "pa_mpjpe_body")
        self.metrics = (("mpvpe_all", "pa_mpvpe_all") + body) if self.options["joints"] == "smplest-x" else body

    def chunk_values(self, models, gt, pred, gt_index, pred_index) -> dict[str, Tensor]:
        import torch

        from ..meshes import Meshes, smplx_meshes
        from ..metrics import M_TO_MM
        from ..procrustes import procrustes_distances_points as procrustes_distances
        from ..smpl import Regressor, smpl_meshes

        if models.smpl is None:
            raise ValueError("protocol '3dpw' needs SMPL models (load_protocol_models loads them)")
        body, smpl = models.smplx, models.smpl
        G = smpl_meshes(smpl, gt, gt_index)
        M = smplx_meshes(body, pred, pred_index)
        js = smpl.joint_regressor
        jg = js.absolute(G)  # (B, 24, 3) float64
        jx = Regressor.from_dense(body.J_regressor[:23], body.device, body.dtype)  # SMPL-X rows 0-22
        jm = jx.absolute(M)  # (B, 23, 3): pelvis + ... rows 0-22 of J_regressor
        # M' = M - (Jx M)_pelvis + (Js G)_pelvis, as a float64 shift c
        c = jm[:, PELVIS: PELVIS + 1] - jg[:, PELVIS: PELVIS + 1]
        lsp = list(LSP_ROWS)
        norm = lambda d: torch.linalg.vector_norm(d, dim=-1).double().mean(-1) * M_TO_MM  # noqa: E731
        if self.options["joints"] == "smpler-x":
            # Jx M' = Jx M - rowsum * c
            pred_joints = jm[:, lsp] - jx.row_sums[lsp][None, :, None] * c
            return {"mpjpe_body": norm(pred_joints - jg[:, lsp]),
                    "pa_mpjpe_body": procrustes_distances(jm[:, lsp], jg[:, lsp]).mean(-1) * M_TO_MM}
        mapping = smpl.require_mapping()
        DM = mapping.apply(M)  # D M, origin = M's
        # D M' = D M - rowsum_D * c = (DM.local - (rowsum_D - 1) c) + (origin - c)
        fold = ((mapping.row_sums[None, :, None] - 1.0) * c).to(DM.local.dtype)
        mapped = Meshes(DM.local - fold, DM.origin - c)
        offset = (mapped.origin - G.origin).to(G.local.dtype)
        pm = js.absolute(mapped)
        return {
            "mpvpe_all": norm(mapped.local - G.local + offset),
            "pa_mpvpe_all": procrustes_distances(mapped.local, G.local).double().mean(-1) * M_TO_MM,
            "mpjpe_body": norm(pm[:, lsp] - jg[:, lsp]),
            "pa_mpjpe_body": procrustes_distances(pm[:, lsp], jg[:, lsp]).mean(-1) * M_TO_MM,
        }

