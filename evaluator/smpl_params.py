"""SMPL parameter layout for SMPL ground truth (3DPW), plain Python like evaluator.smplx_params."""
from __future__ import annotations

# 23 body joints after the root, 10 betas; ``gender`` is a separate per-sample string.
SMPL_PARAM_SIZES: dict[str, int] = {"global_orient": 3, "body_pose": 69, "betas": 10, "transl": 3}
SMPL_GENDERS = ("neutral", "male", "female")
NUM_SMPL_VERTICES = 6890
NUM_SMPL_JOINTS = 24
