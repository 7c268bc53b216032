"""SMPL-X joint layout facts the models, losses and augmentations share."""
from __future__ import annotations

from evaluator.smplx_params import OPTIONAL_PARAMS
from evaluator.formats import PARAM_SHAPES as _ACCEPTED_SHAPES

# parents of the 55 SMPL-X skeleton joints (root = -1)
PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
    20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
    21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53,
)
PELVIS, NECK, HEAD, L_WRIST, R_WRIST = 0, 12, 15, 20, 21
BODY_JOINTS = range(0, 22)
LHAND_JOINTS = range(25, 40)
RHAND_JOINTS = range(40, 55)
FACE_JOINTS = (15, 22, 23, 24)  # head, jaw, eyes
BODY_POSITION_JOINTS = tuple(range(25))  # SMPLer-X body PositionNet: 22 body joints + jaw + 2 eyes
# fingertip vertices (thumb, index, middle, ring, pinky), spec §2 hand regressors
LHAND_TIP_VERTICES = (5361, 4933, 5058, 5169, 5286)
RHAND_TIP_VERTICES = (8079, 7669, 7794, 7905, 8022)

# left/right body joints swapped by a horizontal flip (indices into the 55 joints)
FLIP_PAIRS: tuple[tuple[int, int], ...] = (
    (1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21), (23, 24),
) + tuple((l, r) for l, r in zip(LHAND_JOINTS, RHAND_JOINTS))


def flip_permutation(num_joints: int = 55) -> list[int]:
    perm = list(range(num_joints))
    for a, b in FLIP_PAIRS:
        if b < num_joints:
            perm[a], perm[b] = b, a
    return perm


def chain_to_root(joint: int) -> list[int]:
    """Joint indices from the root down to ``joint`` (inclusive)."""
    chain = [joint]
    while PARENTS[chain[-1]] >= 0:
        chain.append(PARENTS[chain[-1]])
    return chain[::-1]


# prediction format of the leaderboard (axis-angle), with trailing shape per sample: evaluator.formats'
# canonical shapes of the required keys (eye poses are optional there and not predicted here)
PARAM_SHAPES: dict[str, tuple[int, ...]] = {
    key: shapes[0] for key, shapes in _ACCEPTED_SHAPES.items() if key not in OPTIONAL_PARAMS
}
POSE_KEYS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose")
