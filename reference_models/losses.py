"""L1 training losses with the published weights (spec §5)."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from .body import SMPLXJoints
from .layers import project_points
from .rotations import axis_angle_to_matrix
from .data.sources import PART_NAMES
from .smplx_layout import (BODY_POSITION_JOINTS, FACE_JOINTS, L_WRIST, LHAND_JOINTS, NECK, PELVIS, POSE_KEYS,
                           R_WRIST, RHAND_JOINTS, chain_to_root)
from .smpler_x import BODY_HM_SHAPE, HAND_HM_SHAPE
from .vit import INPUT_SHAPE, PATCH_SIZE


@dataclass(frozen=True)
class LossWeights:
    pose: float = 10.0
    shape: float = 1.0
    expression: float = 1.0
    joints3d: float = 100.0
    joints3d_part: float = 100.0
    joints2d: float = 1.0
    boxes: float = 1.0
    position: float = 1.0  # SMPLer-X PositionNet joints
    root: float = 1.0  # SMPLest-X separate root-orientation term
    hand_root: float = 1.0  # SMPLest-X hand_root and hand_root_chain


NUM_JOINTS = 55
FACE_POSE_JOINTS = (22, 23, 24)  # jaw and eyes: the official orig_joint_part['face'] rotations
# SMPL-X joints whose rotation each pose key holds
POSE_KEY_JOINTS = {"global_orient": range(0, 1), "body_pose": range(1, 22), "left_hand_pose": LHAND_JOINTS,
                   "right_hand_pose": RHAND_JOINTS, "jaw_pose": range(22, 23)}
BODY_DEPTH_RANGE, HAND_DEPTH_RANGE = 2.0, 0.3  # metres discretised over the heat-map depth


def _masked_l1(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean |pred - target| with ``weight`` broadcast over trailing dims; 0 when nothing is valid."""
    diff = (pred - target).abs() * weight
    denom = (weight.expand_as(diff) > 0).sum().clamp_min(1)
    return diff.sum() / denom


def part_relative(joints: torch.Tensor) -> torch.Tensor:
    """Body joints relative to the pelvis, hands to their wrist, face joints to the neck."""
    out = joints - joints[:, PELVIS:PELVIS + 1]
    out[:, list(LHAND_JOINTS)] = joints[:, list(LHAND_JOINTS)] - joints[:, L_WRIST:L_WRIST + 1]
    out[:, list(RHAND_JOINTS)] = joints[:, list(RHAND_JOINTS)] - joints[:, R_WRIST:R_WRIST + 1]
    out[:, list(FACE_JOINTS)] = joints[:, list(FACE_JOINTS)] - joints[:, NECK:NECK + 1]
    return out


def global_rotation(rotmats: dict[str, torch.Tensor], joint: int) -> torch.Tensor:
    """Compose local rotations root → ``joint`` (body joints only)."""
    out = rotmats["global_orient"]
    for j in chain_to_root(joint)[1:]:
        out = out @ rotmats["body_pose"][:, j - 1]
    return out


def _boxes_from_keypoints(kp: torch.Tensor, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(cx, cy, w, h) in body heat-map cells (BoxNet's units) of the valid keypoints in ``ids``; validity per sample."""
    pts, valid = kp[:, ids, :2], kp[:, ids, 2:3] > 0
    big = torch.finfo(pts.dtype).max
    lo = torch.where(valid, pts, big).amin(1)
    hi = torch.where(valid, pts, -big).amax(1)
    cell = pts.new_tensor([INPUT_SHAPE[1] / BODY_HM_SHAPE[2], INPUT_SHAPE[0] / BODY_HM_SHAPE[1]])
    box = torch.cat(((lo + hi) / 2 / cell, (hi - lo) / cell), dim=-1)
    ok = valid.sum((1, 2)) >= 2
    return torch.where(ok[:, None], box, torch.zeros_like(box)), ok.float()


def part_validity(batch: dict) -> dict[str, torch.Tensor]:
    """(B,) 0/1 per labelled part (PART_NAMES), each already times ``has_smplx``; all parts where ``parts`` is absent."""
    has = batch["has_smplx"].float()
    parts = batch.get("parts")
    if parts is None:
        return {name: has for name in PART_NAMES}
    return {name: parts[:, i].float() * has for i, name in enumerate(PART_NAMES)}


def joint_weights(valid: dict[str, torch.Tensor]) -> torch.Tensor:
    """(B, 55) weight per SMPL-X joint (rotation and 3D position) from the labelled parts, as the official
    ``rotation_valid`` / ``coord_valid``: hands and face joints off where that part has no label."""
    w = valid["body"][:, None].repeat(1, NUM_JOINTS)
    w[:, list(LHAND_JOINTS)] = valid["lhand"][:, None]
    w[:, list(RHAND_JOINTS)] = valid["rhand"][:, None]
    w[:, list(FACE_POSE_JOINTS)] = valid["face"][:, None]
    return w


def compute_losses(model_arch: str, out: dict, batch: dict, body: SMPLXJoints,
                   weights: LossWeights = LossWeights()) -> dict[str, torch.Tensor]:
    """Weighted loss terms plus ``total``. ``batch`` holds GT params, ``keypoints2d``, ``has_smplx`` and, from
    the training datasets, ``parts`` (label validity per part, PART_NAMES order) and ``part_boxes(_valid)``.
    A part without a label gets weight 0 (never a zero target), so it sends exactly zero gradient."""
    has = batch["has_smplx"].float()
    valid = part_validity(batch)
    jw = joint_weights(valid)
    key_w = {k: jw[:, list(joints)] for k, joints in POSE_KEY_JOINTS.items()}  # (B, J) per pose key
    gt_rot = None
    losses: dict[str, torch.Tensor] = {}
    if model_arch == "smplest_x":  # L1 on rotation matrices, root separately
        gt_rot = {k: axis_angle_to_matrix(batch[k].float()) for k in POSE_KEYS}
        losses["root"] = weights.root * _masked_l1(out["rotmats"]["global_orient"], gt_rot["global_orient"],
                                                   key_w["global_orient"][:, :, None])
        losses["pose"] = weights.pose * sum(
            _masked_l1(out["rotmats"][k], gt_rot[k].reshape(out["rotmats"][k].shape),
                       key_w[k].reshape(len(has), *out["rotmats"][k].shape[1:-2], 1, 1)) for k in POSE_KEYS[1:]
        ) / 4
    else:  # axis-angle L1
        pred = torch.cat([out[k].reshape(len(has), -1, 3) for k in POSE_KEYS], 1)
        gt = torch.cat([batch[k].reshape(len(has), -1, 3).float() for k in POSE_KEYS], 1)
        losses["pose"] = weights.pose * _masked_l1(pred, gt, torch.cat([key_w[k] for k in POSE_KEYS], 1)[..., None])
    losses["shape"] = weights.shape * _masked_l1(out["betas"], batch["betas"].float(), valid["shape"][:, None])
    losses["expression"] = weights.expression * _masked_l1(out["expression"], batch["expression"].float(),
                                                           valid["face"][:, None])

    # joints from the body model: predicted params (with predicted translation) vs GT params
    # expression (and jaw) also move the joints a little through the shape blend; a sample without a face label
    # must not train them that way either, so their joint-term gradient is cut there (same forward values)
    face = valid["face"][:, None] > 0
    pred_params = {k: out[k] for k in (*POSE_KEYS, "betas", "expression", "transl")}
    pred_params.update({k: torch.where(face, out[k], out[k].detach()) for k in ("jaw_pose", "expression")})
    pred_body = body(pred_params)
    with torch.no_grad():
        gt_body = body({k: batch[k].float() for k in (*POSE_KEYS, "betas", "expression")})
    pj, gj = pred_body["joints"], gt_body["joints"]
    w3 = jw[..., None]
    losses["joints3d"] = weights.joints3d * _masked_l1(pj - pj[:, :1], gj - gj[:, :1], w3)
    losses["joints3d_part"] = weights.joints3d_part * _masked_l1(part_relative(pj), part_relative(gj), w3)
    kp = batch["keypoints2d"].float()
    kp_w = (kp[..., 2:3] > 0).float()
    losses["joints2d"] = weights.joints2d * _masked_l1(project_points(pj) / PATCH_SIZE, kp[..., :2] / PATCH_SIZE, kp_w)

    if model_arch == "smpler_x":
        losses.update(_smpler_x_aux_losses(out, batch, kp, kp_w, gj, valid, weights))
    else:
        hand_gt = torch.stack((global_rotation(gt_rot, L_WRIST), global_rotation(gt_rot, R_WRIST)), 1)
        hand_chain = torch.stack((global_rotation(out["rotmats"], L_WRIST), global_rotation(out["rotmats"], R_WRIST)), 1)
        w4 = torch.stack((valid["lhand"], valid["rhand"]), 1)[:, :, None, None] * valid["body"][:, None, None, None]
        losses["hand_root"] = weights.hand_root * _masked_l1(out["hand_root_rotmats"], hand_gt, w4)
        losses["hand_root_chain"] = weights.hand_root * _masked_l1(hand_chain, hand_gt, w4)
    losses["total"] = sum(losses.values())
    return losses


def _box_targets(batch: dict, kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, 4) lhand/rhand/face (cx, cy, w, h) in body heat-map cells and (B, 3, 1) validity: the dataset's
    part boxes where labelled (as the official loaders), else the box around that part's 2D keypoints."""
    boxes, valid = zip(*(_boxes_from_keypoints(kp, ids) for ids in (
        [L_WRIST, *LHAND_JOINTS], [R_WRIST, *RHAND_JOINTS], [NECK, *FACE_JOINTS])))
    gt_boxes, box_valid = torch.stack(boxes, 1), torch.stack(valid, 1)
    if "part_boxes" in batch:
        given, given_ok = batch["part_boxes"].float(), batch["part_boxes_valid"].float() > 0
        cell = given.new_tensor([INPUT_SHAPE[1] / BODY_HM_SHAPE[2], INPUT_SHAPE[0] / BODY_HM_SHAPE[1]])
        as_cells = torch.cat(((given[..., :2] + given[..., 2:]) / 2 / cell, (given[..., 2:] - given[..., :2]) / cell), -1)
        gt_boxes = torch.where(given_ok[..., None], as_cells, gt_boxes)
        box_valid = torch.where(given_ok, torch.ones_like(box_valid), box_valid)
    return gt_boxes, box_valid[..., None]


def _smpler_x_aux_losses(out, batch, kp, kp_w, gt_joints, valid, weights: LossWeights) -> dict[str, torch.Tensor]:
    """Box, body and hand PositionNet targets derived from GT 2D keypoints (or part boxes) and GT 3D joints."""
    losses = {}
    gt_boxes, box_valid = _box_targets(batch, kp)
    losses["boxes"] = weights.boxes * _masked_l1(out["boxes"], gt_boxes, box_valid)

    # body PositionNet: (x, y) from GT 2D in heat-map cells, z root-relative over 2 m
    ids = list(BODY_POSITION_JOINTS)
    depth = BODY_HM_SHAPE[0]
    z = ((gt_joints[:, ids, 2] - gt_joints[:, :1, 2]) / (BODY_DEPTH_RANGE / 2) + 1) * depth / 2
    target = torch.cat((kp[:, ids, :2] / PATCH_SIZE, z[..., None]), -1)
    body_w = torch.cat((kp_w[:, ids].expand(-1, -1, 2), joint_weights(valid)[:, ids, None]), -1)
    pos = _masked_l1(out["body_joint_hm"], target, body_w)

    # hand PositionNet: the 15 finger joints (tips have no 2D GT) inside the predicted hand boxes
    boxes_xyxy = out["hand_boxes_xyxy"].detach()
    hand3d = torch.stack((gt_joints[:, list(LHAND_JOINTS)], gt_joints[:, list(RHAND_JOINTS)]), 1)
    wrist_z = torch.stack((gt_joints[:, L_WRIST, 2], gt_joints[:, R_WRIST, 2]), 1)[..., None]
    hand2d = torch.stack((kp[:, list(LHAND_JOINTS)], kp[:, list(RHAND_JOINTS)]), 1)
    side = (boxes_xyxy[..., 2:] - boxes_xyxy[..., :2]).clamp_min(1)[:, :, None]
    # RoI-align bin index coordinates (bin i centred at i + 0.5 of the box's 16 bins)
    uv = (hand2d[..., :2] - boxes_xyxy[:, :, None, :2]) / side * HAND_HM_SHAPE[2] - 0.5
    uv[:, 0, :, 0] = HAND_HM_SHAPE[2] - 1 - uv[:, 0, :, 0]  # the left crop is mirrored
    hz = ((hand3d[..., 2] - wrist_z) / (HAND_DEPTH_RANGE / 2) + 1) * HAND_HM_SHAPE[0] / 2
    hand_target = torch.cat((uv, hz[..., None]), -1)
    inside = ((uv >= 0) & (uv <= HAND_HM_SHAPE[2] - 1)).all(-1, keepdim=True) & (hand2d[..., 2:3] > 0)
    hand_w = inside.float() * torch.stack((valid["lhand"], valid["rhand"]), 1)[:, :, None, None]
    pos = pos + _masked_l1(out["hand_joint_hm"][:, :, :15], hand_target, hand_w)
    losses["position"] = weights.position * pos
    return losses
