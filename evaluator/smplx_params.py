"""SMPL-X parameter layout shared by the file checks and the body model (plain Python: no torch)."""
from __future__ import annotations

# (name, per-sample size in axis-angle / coefficients); leye/reye default to zeros.
PARAM_SIZES: dict[str, int] = {
    "global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45,
    "jaw_pose": 3, "leye_pose": 3, "reye_pose": 3, "betas": 10, "expression": 10, "transl": 3,
}
OPTIONAL_PARAMS = frozenset({"leye_pose", "reye_pose"})
REQUIRED_PARAMS = tuple(k for k in PARAM_SIZES if k not in OPTIONAL_PARAMS)
