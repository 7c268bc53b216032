"""EHF (SMPLer-X ``EHF.py``): 100 frames, GT = ``NN_align.ply`` SMPL-X-topology registrations.

The registrations are in the scanner frame; SMPLer-X rotates them into the camera frame with the
fixed EHF camera rotation R = Rodrigues(EHF_CAMERA_ROTATION) before scoring (no translation: every
metric is alignment-based). Sample id = the frame number ``NN`` (the image ``NN_img.jpg``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..skeleton import NUM_VERTICES
from .base import GroundTruthImportError, ImportedGT, rodrigues
from .ply import read_ply_vertices

EHF_CAMERA_ROTATION = (-2.98747896, 0.01172457, -0.05704687)  # SMPLer-X EHF.__init__ cam_param['R']


def parse_ehf(source: str | os.PathLike) -> ImportedGT:
    """``source``: the EHF data folder (or one ``*_align.ply``)."""
    source = Path(source)
    files = [source] if source.is_file() else sorted(source.glob("*_align.ply"))
    if not files:
        raise GroundTruthImportError(f"{source}: no *_align.ply registrations found")
    R = rodrigues(EHF_CAMERA_ROTATION)
    ids, verts = [], []
    for path in files:
        v = read_ply_vertices(path)
        if v.shape != (NUM_VERTICES, 3):
            raise GroundTruthImportError(f"{path.name}: {len(v)} vertices, expected {NUM_VERTICES} (SMPL-X topology)")
        verts.append(v @ R.T)
        ids.append(path.name.split("_")[0])
    return ImportedGT(np.array(ids), {"vertices": np.stack(verts)}, schema="smplx", protocol="ehf", rows_read=len(files))
