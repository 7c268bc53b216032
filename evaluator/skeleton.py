"""The SMPL-X 55-joint skeleton: names, kinematic tree and a plausible rest pose.

Parents and joint order are those of the real SMPL-X model; the rest positions are
approximate (metres, y up, +x towards the subject's left, +z forward).
"""
from __future__ import annotations

import numpy as np

from ehps_client.layouts import NUM_SMPLX_VERTICES as NUM_VERTICES

NUM_JOINTS = 55
NUM_FACES = 20908

PELVIS, NECK, HEAD, JAW, LEFT_EYE, RIGHT_EYE = 0, 12, 15, 22, 23, 24
LEFT_WRIST, RIGHT_WRIST = 20, 21

_BODY = [
    ("pelvis", -1, (0.0, 0.0, 0.0)),
    ("left_hip", 0, (0.06, -0.09, -0.01)),
    ("right_hip", 0, (-0.06, -0.09, -0.01)),
    ("spine1", 0, (0.0, 0.11, -0.02)),
    ("left_knee", 1, (0.04, -0.38, 0.0)),
    ("right_knee", 2, (-0.04, -0.38, 0.0)),
    ("spine2", 3, (0.0, 0.13, 0.0)),
    ("left_ankle", 4, (-0.01, -0.40, -0.04)),
    ("right_ankle", 5, (0.01, -0.40, -0.04)),
    ("spine3", 6, (0.0, 0.05, 0.02)),
    ("left_foot", 7, (0.03, -0.06, 0.12)),
    ("right_foot", 8, (-0.03, -0.06, 0.12)),
    ("neck", 9, (0.0, 0.21, -0.03)),
    ("left_collar", 9, (0.07, 0.11, -0.01)),
    ("right_collar", 9, (-0.07, 0.11, -0.01)),
    ("head", 12, (0.0, 0.09, 0.05)),
    ("left_shoulder", 13, (0.11, 0.03, -0.01)),
    ("right_shoulder", 14, (-0.11, 0.03, -0.01)),
    ("left_elbow", 16, (0.26, -0.01, -0.02)),
    ("right_elbow", 17, (-0.26, -0.01, -0.02)),
    ("left_wrist", 18, (0.25, 0.01, 0.0)),
    ("right_wrist", 19, (-0.25, 0.01, 0.0)),
    ("jaw", 15, (0.0, 0.0, 0.02)),
    ("left_eye", 15, (0.03, 0.07, 0.08)),
    ("right_eye", 15, (-0.03, 0.07, 0.08)),
]
# Left-hand fingers in SMPL-X order (index, middle, pinky, ring, thumb), three joints each:
# offset of the first joint from the wrist, then a direction and the phalanx lengths.
_FINGERS = [
    ("index", (0.09, -0.005, 0.025), (1.0, 0.0, 0.0), (0.035, 0.025, 0.02)),
    ("middle", (0.095, -0.005, 0.005), (1.0, 0.0, 0.0), (0.037, 0.027, 0.021)),
    ("pinky", (0.08, -0.01, -0.04), (1.0, 0.0, -0.1), (0.022, 0.018, 0.016)),
    ("ring", (0.09, -0.008, -0.018), (1.0, 0.0, -0.05), (0.032, 0.025, 0.02)),
    ("thumb", (0.03, -0.015, 0.03), (0.8, 0.0, 0.6), (0.035, 0.028, 0.024)),
]


def _build() -> tuple[list[str], np.ndarray, np.ndarray]:
    names = [n for n, _, _ in _BODY]
    parents = [p for _, p, _ in _BODY]
    offsets = [o for _, _, o in _BODY]
    for side, wrist, mirror in (("left", LEFT_WRIST, 1.0), ("right", RIGHT_WRIST, -1.0)):
        for finger, base, direction, lengths in _FINGERS:
            d = np.asarray(direction) / np.linalg.norm(direction)
            parent = wrist
            for k, length in enumerate(lengths):
                off = np.asarray(base) if k == 0 else d * lengths[k - 1]
                names.append(f"{side}_{finger}{k + 1}")
                parents.append(parent)
                offsets.append(tuple(off * np.array([mirror, 1.0, 1.0])))
                parent = len(names) - 1
    parents_arr = np.asarray(parents, dtype=np.int64)
    rest = np.zeros((len(names), 3))
    for j, off in enumerate(offsets):
        rest[j] = (rest[parents_arr[j]] if j else 0.0) + np.asarray(off)
    rest[:, 1] -= 0.35  # the real template's pelvis sits about 35 cm below the origin
    return names, parents_arr, rest


JOINT_NAMES, PARENTS, REST_JOINTS = _build()
assert len(JOINT_NAMES) == NUM_JOINTS

# Rows of the SMPL-X joint regressor used for the 21-joint hand regressors and their tip vertices
# (thumb, index, middle, ring, pinky), as in SMPLer-X `make_hand_regressor`.
HAND_CHAINS = {
    "left": (LEFT_WRIST, ((37, 38, 39), (25, 26, 27), (28, 29, 30), (34, 35, 36), (31, 32, 33))),
    "right": (RIGHT_WRIST, ((52, 53, 54), (40, 41, 42), (43, 44, 45), (49, 50, 51), (46, 47, 48))),
}
HAND_TIP_VERTICES = {
    "left": (5361, 4933, 5058, 5169, 5286),
    "right": (8079, 7669, 7794, 7905, 8022),
}
# LSP-14 body joints (r ankle, r knee, r hip, l hip, l knee, l ankle, r wrist, r elbow,
# r shoulder, l shoulder, l elbow, l wrist, neck, head top) as SMPL-X joints; the last one
# is replaced by head-top vertices in the synthetic J14 regressor.
LSP14_FROM_SMPLX = (8, 5, 2, 1, 4, 7, 21, 19, 17, 16, 18, 20, 12, 15)
