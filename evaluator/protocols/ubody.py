"""ubody: the generic SMPL-X recipe counted only on GT points that project inside the image.

SMPLer-X ``UBody.evaluate``: the GT mesh, its 14 body joints and the 21+21 hand-regressor joints
are projected into the original image; a vertex or joint counts only if 0 < x < W and 0 < y < H.
Procrustes is still solved on every point of a set, and only the averages are masked. A hand or
the face with no visible point gives no value for that sample (skipped, not zero); the hand
averages use the hands that have one.

GT (schema "smplx-camera") = SMPL-X params or vertices plus per-sample ``focal`` (fx, fy),
``princpt`` (cx, cy) and ``image_size`` (W, H) in pixels. The reference projects with its virtual
crop camera then maps the crop back to the image (``bb2img_trans``, a scale and shift at test
time); that chain is one pinhole camera in image pixels, which the importer writes as these
intrinsics. Projection: x = fx X / (Z + 1e-4) + cx (the reference's 1e-4 m depth guard).
"""
from __future__ import annotations

from .smplx_generic import SmplxGeneric

DEPTH_EPS = 1e-4  # metres, as UBody.perspective_transform


class UBody(SmplxGeneric):
    name = "ubody"
    version = "1"
    title = "UBody intra-scene test (in-image points only)"
    source = "SMPLer-X data/UBody/UBody.py UBody.evaluate"
    gt_schema = "smplx-camera"

    def point_masks(self, models, gt_meshes, gt, gt_index):
        import torch

        from ..metrics import PointMasks
        from ..parts import J14_ROWS, LHAND_ROWS, RHAND_ROWS

        device = models.smplx.device
        meta = {k: torch.as_tensor(gt.meta[k][gt_index], device=device, dtype=torch.float64)
                for k in ("focal", "princpt", "image_size")}

        def visible(points):  # (B, N, 3) float64 camera-frame points -> (B, N) bool
            z = points[..., 2] + DEPTH_EPS
            xy = points[..., :2] / z[..., None] * meta["focal"][:, None] + meta["princpt"][:, None]
            size = meta["image_size"][:, None]
            return (xy > 0).all(-1) & (xy < size).all(-1)

        joints = models.smplx.assets.regress_absolute(gt_meshes)
        return PointMasks(vertices=visible(gt_meshes.absolute()), j14=visible(joints[:, J14_ROWS]),
                          lhand=visible(joints[:, LHAND_ROWS]), rhand=visible(joints[:, RHAND_ROWS]))
