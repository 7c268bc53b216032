"""SMPL parameter layout for SMPL ground truth (3DPW), plain Python like evaluator.smplx_params (ehps_client.layouts)."""
from __future__ import annotations

from ehps_client.layouts import NUM_SMPL_JOINTS, NUM_SMPL_VERTICES, SMPL_GENDERS, SMPL_PARAM_SIZES

__all__ = ["NUM_SMPL_JOINTS", "NUM_SMPL_VERTICES", "SMPL_GENDERS", "SMPL_PARAM_SIZES"]
