"""The body-model layouts a prediction or ground-truth file may hold (plain Python, no torch).

The one source of these numbers: the client's checker, the server's upload checks and the evaluator's
body models (evaluator.smplx_params, evaluator.smpl_params, evaluator.skeleton) all read them from here.
"""
from __future__ import annotations

# SMPL-X: (name, per-sample size in axis-angle / coefficients); leye/reye default to zeros.
PARAM_SIZES: dict[str, int] = {
    "global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45,
    "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3, "betas": 10, "expression": 10, "transl": 3,
}
OPTIONAL_PARAMS = frozenset({"leye_pose", "reye_pose"})
REQUIRED_PARAMS = tuple(k for k in PARAM_SIZES if k not in OPTIONAL_PARAMS)
NUM_SMPLX_VERTICES = 10475

# SMPL (3DPW ground truth): 23 body joints after the root, 10 betas; ``gender`` is a separate per-sample string.
SMPL_PARAM_SIZES: dict[str, int] = {"global_orient": 3, "body_pose": 69, "betas": 10, "transl": 3}
SMPL_GENDERS = ("neutral", "male", "female")
NUM_SMPL_VERTICES = 6890
NUM_SMPL_JOINTS = 24
