"""SMPLer-X (NeurIPS'23): ViT + 31 task tokens + component-guided heads (spec §5).

Heads: body PositionNet (3D heat-maps, soft-argmax), BodyRotationNet, BoxNet (hand/face boxes),
HandRoI (×4 deconv + RoI-align) with a hand PositionNet and HandRotationNet, FaceRegressor.
All rotations are regressed in 6D and returned as axis-angle.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import camera_translation, conv_stack, deconv_stack, mlp, roi_align, sample_features, soft_argmax_2d, soft_argmax_3d
from .rotations import matrix_to_axis_angle, rot6d_to_matrix
from .vit import FEATURE_SHAPE, INPUT_SHAPE, ViT, vit_size

NUM_TASK_TOKENS = 31  # shape 1, cam 1, expr 1, jaw 1, hand 2 (unused), body pose 25
TOKEN_SLICES = {"shape": slice(0, 1), "cam": slice(1, 2), "expr": slice(2, 3), "jaw": slice(3, 4),
                "hand": slice(4, 6), "body": slice(6, 31)}
BODY_HM_SHAPE = (16, *FEATURE_SHAPE)  # (depth, H, W) of the body heat-maps
HAND_HM_SHAPE = (16, 16, 16)
NUM_BODY_POS_JOINTS = 25
NUM_HAND_POS_JOINTS = 20
# head widths of the paper models; the CPU-test "tiny" variant shrinks them
PAPER_HEADS = {"rot_feat": 512, "box_channels": 256}
TINY_HEADS = {"rot_feat": 32, "box_channels": 16}
HAND_BOX_EXTENSION, FACE_BOX_EXTENSION = 2.0, 1.5
HAND_FEAT_UPSCALE = 4
BOX_HM_SHAPE = (FEATURE_SHAPE[0] * 8, FEATURE_SHAPE[1] * 8)  # BoxNet upsamples ×8
# mirror a left-hand rotation into right-hand space (and back): R → S R S, S = diag(-1, 1, 1)
_MIRROR = torch.diag(torch.tensor([-1.0, 1.0, 1.0]))


class PositionNet(nn.Module):
    """1×1 conv → J 3D heat-maps → soft-argmax joint coordinates in heat-map units (x, y, z)."""

    def __init__(self, feat_dim: int, num_joints: int, hm_shape: tuple[int, int, int]):
        super().__init__()
        self.num_joints, self.hm_shape = num_joints, hm_shape
        self.conv = conv_stack([feat_dim, num_joints * hm_shape[0]], final_bn_relu=False)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hm = self.conv(fmap)
        hm3d = hm.reshape(hm.shape[0], self.num_joints, *self.hm_shape)
        return soft_argmax_3d(hm3d), hm


class BodyRotationNet(nn.Module):
    def __init__(self, feat_dim: int, rot_feat: int):
        super().__init__()
        self.token_proj = nn.Linear(feat_dim, rot_feat)
        joint_feat = NUM_BODY_POS_JOINTS * (rot_feat + 3)
        self.root_out = nn.Linear(joint_feat, 6)
        self.body_out = nn.Linear(joint_feat, 21 * 6)
        self.shape_out = nn.Linear(feat_dim, 10)
        self.cam_out = nn.Linear(feat_dim, 3)

    def forward(self, body_tokens, shape_token, cam_token, joint_hm):
        feat = torch.cat((self.token_proj(body_tokens), joint_hm.to(body_tokens.dtype)), dim=2).flatten(1)
        return self.root_out(feat), self.body_out(feat).reshape(-1, 21, 6), self.shape_out(shape_token), self.cam_out(cam_token)


class BoxNet(nn.Module):
    """Hand/face box centres (soft-argmax 2D on upsampled maps) and sizes (MLP on centre features).

    Centres and sizes are normalised by the input width/height: (cx/W, cy/H, w/W, h/H).
    """

    def __init__(self, feat_dim: int, channels: int):
        super().__init__()
        self.deconv = deconv_stack([feat_dim + NUM_BODY_POS_JOINTS * BODY_HM_SHAPE[0], channels, channels, channels])
        self.center = conv_stack([channels, 3], final_bn_relu=False)
        self.sizes = nn.ModuleList(mlp([channels, channels, 2]) for _ in range(3))  # lhand, rhand, face

    def forward(self, fmap: torch.Tensor, body_hm: torch.Tensor) -> torch.Tensor:
        feat = self.deconv(torch.cat((fmap, body_hm.to(fmap.dtype)), dim=1))
        centres = soft_argmax_2d(self.center(feat))  # (B, 3, 2) in box-map pixels
        centre_feat = sample_features(feat, centres)
        sizes = torch.stack([head(centre_feat[:, i]) for i, head in enumerate(self.sizes)], dim=1)
        scale = centres.new_tensor([BOX_HM_SHAPE[1], BOX_HM_SHAPE[0]])
        return torch.cat((centres / scale, sizes.float()), dim=-1)  # (B, 3, 4)


def boxes_to_square_xyxy(box: torch.Tensor, extension: float) -> torch.Tensor:
    """Normalised (cx, cy, w, h) → square (x1, y1, x2, y2) in input pixels, side = max(w, h)·extension."""
    w_in, h_in = INPUT_SHAPE[1], INPUT_SHAPE[0]
    cx, cy = box[..., 0] * w_in, box[..., 1] * h_in
    side = torch.maximum(box[..., 2].abs() * w_in, box[..., 3].abs() * h_in).clamp_min(4.0) * extension
    return torch.stack((cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2), dim=-1)


class HandRoI(nn.Module):
    """×4 upsampled feature map → 16×16 RoI features per hand; left crops are mirrored."""

    def __init__(self, feat_dim: int):
        super().__init__()
        self.deconv = deconv_stack([feat_dim, feat_dim // 2, feat_dim // 4])
        self.conv = conv_stack([feat_dim // 4, feat_dim], final_bn_relu=False)

    def forward(self, fmap: torch.Tensor, lhand_xyxy: torch.Tensor, rhand_xyxy: torch.Tensor) -> torch.Tensor:
        feat = self.conv(self.deconv(fmap))
        scale = feat.shape[-1] / INPUT_SHAPE[1]
        size = HAND_HM_SHAPE[1:]
        left = roi_align(feat, lhand_xyxy.detach(), size, scale).flip(-1)
        right = roi_align(feat, rhand_xyxy.detach(), size, scale)
        return torch.cat((left, right), dim=0)  # (2B, C, 16, 16): lefts first


class HandRotationNet(nn.Module):
    def __init__(self, feat_dim: int, rot_feat: int):
        super().__init__()
        self.conv = conv_stack([feat_dim, rot_feat])
        self.pose_out = nn.Linear(NUM_HAND_POS_JOINTS * (rot_feat + 3), 15 * 6)

    def forward(self, hand_feat: torch.Tensor, joint_hm: torch.Tensor) -> torch.Tensor:
        feat = self.conv(hand_feat)
        joint_feat = sample_features(feat, joint_hm[..., :2])
        out = self.pose_out(torch.cat((joint_feat, joint_hm.to(joint_feat.dtype)), dim=2).flatten(1))
        return out.reshape(-1, 15, 6)


class FaceRegressor(nn.Module):
    def __init__(self, feat_dim: int):
        super().__init__()
        self.expr_out = nn.Linear(feat_dim, 10)
        self.jaw_out = nn.Linear(feat_dim, 6)

    def forward(self, expr_token, jaw_token):
        return self.expr_out(expr_token), self.jaw_out(jaw_token)


class SMPLerX(nn.Module):
    arch = "smpler_x"

    def __init__(self, size: str = "H"):
        super().__init__()
        self.size = size
        self.encoder = ViT(vit_size(size), NUM_TASK_TOKENS)
        c = self.encoder.embed_dim
        heads = TINY_HEADS if size == "tiny" else PAPER_HEADS
        self.body_position_net = PositionNet(c, NUM_BODY_POS_JOINTS, BODY_HM_SHAPE)
        self.body_rotation_net = BodyRotationNet(c, heads["rot_feat"])
        self.box_net = BoxNet(c, heads["box_channels"])
        self.hand_roi_net = HandRoI(c)
        self.hand_position_net = PositionNet(c, NUM_HAND_POS_JOINTS, HAND_HM_SHAPE)
        self.hand_rotation_net = HandRotationNet(c, heads["rot_feat"])
        self.face_regressor = FaceRegressor(c)

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens, fmap = self.encoder(img)
        tok = {name: tokens[:, s] for name, s in TOKEN_SLICES.items()}
        body_joint_hm, body_hm = self.body_position_net(fmap)
        root6d, body6d, betas, cam = self.body_rotation_net(tok["body"], tok["shape"][:, 0], tok["cam"][:, 0], body_joint_hm)
        boxes = self.box_net(fmap, body_hm)
        lhand_xyxy = boxes_to_square_xyxy(boxes[:, 0], HAND_BOX_EXTENSION)
        rhand_xyxy = boxes_to_square_xyxy(boxes[:, 1], HAND_BOX_EXTENSION)
        hand_feat = self.hand_roi_net(fmap, lhand_xyxy, rhand_xyxy)
        hand_joint_hm, _ = self.hand_position_net(hand_feat)
        hand6d = self.hand_rotation_net(hand_feat, hand_joint_hm)
        expr, jaw6d = self.face_regressor(tok["expr"][:, 0], tok["jaw"][:, 0])

        b = img.shape[0]
        mirror = _MIRROR.to(device=img.device)
        hand_mats = rot6d_to_matrix(hand6d.float())
        lhand_mats = mirror @ hand_mats[:b] @ mirror  # the left crop was mirrored into a right hand
        rotmats = {
            "global_orient": rot6d_to_matrix(root6d.float()),
            "body_pose": rot6d_to_matrix(body6d.float()),
            "left_hand_pose": lhand_mats,
            "right_hand_pose": hand_mats[b:],
            "jaw_pose": rot6d_to_matrix(jaw6d.float()),
        }
        out = {k: matrix_to_axis_angle(m) for k, m in rotmats.items()}
        out.update(betas=betas.float(), expression=expr.float(), transl=camera_translation(cam.float()))
        out["rotmats"] = rotmats
        out["body_joint_hm"] = body_joint_hm  # (B, 25, 3) in BODY_HM_SHAPE voxel units (x, y, z)
        out["hand_joint_hm"] = torch.stack((hand_joint_hm[:b], hand_joint_hm[b:]), dim=1)  # (B, 2, 20, 3), left mirrored
        out["boxes"] = boxes  # (B, 3, 4): lhand, rhand, face normalised (cx, cy, w, h)
        out["hand_boxes_xyxy"] = torch.stack((lhand_xyxy, rhand_xyxy), dim=1)
        return out
