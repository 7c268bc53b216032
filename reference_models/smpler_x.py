"""SMPLer-X (NeurIPS'23): ViT + 31 task tokens + component-guided heads (spec §5).

Heads: body PositionNet (3D heat-maps, soft-argmax), body regressor, BoxNet (hand/face boxes), HandRoI
(×4 deconv → RoI-align → 1×1 conv) with a hand PositionNet and hand regressor, FaceRegressor. Module
names and the forward pass follow the official ``main/SMPLer_X.py`` / ``common/nets/smpler_x.py``
(caizhongang/SMPLer-X), so an official state dict loads as is (see ``docs/reference_models.md``).
All rotations are regressed in 6D and returned as axis-angle.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import (camera_translation, conv_stack, deconv_stack, mlp, restore_bbox, roi_align, sample_features,
                     soft_argmax_2d, soft_argmax_3d)
from .rotations import matrix_to_axis_angle, rot6d_to_matrix
from .vit import CROP_SHAPE, FEATURE_SHAPE, INPUT_SHAPE, ViT, body_input, vit_size

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
HAND_BOX_ASPECT, FACE_BOX_ASPECT = 1.0, 1.0  # input_hand_shape 256×256, input_face_shape 192×192
HAND_FEAT_UPSCALE = 4
BOX_MAP_UPSCALE = 8  # BoxNet's three ×2 deconvs
# mirror a left-hand rotation into right-hand space (and back): R → S R S, S = diag(-1, 1, 1), i.e. flip the
# signs of the off-diagonal entries of the first row and column (axis-angle (x, y, z) → (x, -y, -z))
_MIRROR_SIGNS = torch.tensor([[1.0, -1.0, -1.0], [-1.0, 1.0, 1.0], [-1.0, 1.0, 1.0]])


class PositionNet(nn.Module):
    """1×1 conv → J 3D heat-maps → (softmax-normalised heat-maps, soft-argmax coords in cells (x, y, z))."""

    def __init__(self, feat_dim: int, num_joints: int, hm_shape: tuple[int, int, int]):
        super().__init__()
        self.num_joints, self.hm_shape = num_joints, hm_shape
        self.conv = conv_stack([feat_dim, num_joints * hm_shape[0]], final_bn_relu=False)

    def forward(self, fmap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.conv(fmap).reshape(fmap.shape[0], self.num_joints, *self.hm_shape)
        coords = soft_argmax_3d(logits)
        prob = logits.flatten(2).softmax(-1).reshape_as(logits)
        return prob, coords


class BodyRotationNet(nn.Module):
    def __init__(self, feat_dim: int, rot_feat: int):
        super().__init__()
        self.body_conv = mlp([feat_dim, rot_feat])
        joint_feat = NUM_BODY_POS_JOINTS * (rot_feat + 3)
        self.root_pose_out = mlp([joint_feat, 6])
        self.body_pose_out = mlp([joint_feat, 21 * 6])
        self.shape_out = mlp([feat_dim, 10])
        self.cam_out = mlp([feat_dim, 3])

    def forward(self, body_tokens, shape_token, cam_token, joint_coords):
        feat = torch.cat((self.body_conv(body_tokens), joint_coords.to(body_tokens.dtype)), dim=2).flatten(1)
        return (self.root_pose_out(feat), self.body_pose_out(feat).reshape(-1, 21, 6),
                self.shape_out(shape_token), self.cam_out(cam_token))


class BoxNet(nn.Module):
    """Hand/face box centres (soft-argmax 2D on the ×8 map) and sizes (MLP on the centre features).

    Input: the feature map and the softmax-normalised body heat-maps. Returns (B, 3, 4) boxes
    (lhand, rhand, face) as (cx, cy, w, h) in body heat-map cells (16×12).
    """

    def __init__(self, feat_dim: int, channels: int):
        super().__init__()
        self.deconv = deconv_stack([feat_dim + NUM_BODY_POS_JOINTS * BODY_HM_SHAPE[0], channels, channels, channels])
        self.bbox_center = conv_stack([channels, 3], final_bn_relu=False)
        self.lhand_size = mlp([channels, channels, 2])
        self.rhand_size = mlp([channels, channels, 2])
        self.face_size = mlp([channels, channels, 2])

    def forward(self, fmap: torch.Tensor, body_prob: torch.Tensor) -> torch.Tensor:
        hm = body_prob.reshape(fmap.shape[0], -1, *FEATURE_SHAPE).to(fmap.dtype)
        feat = self.deconv(torch.cat((fmap, hm), dim=1))
        centres = soft_argmax_2d(self.bbox_center(feat))  # (B, 3, 2) in ×8-map pixels, ≥ float32
        centre_feat = sample_features(feat, centres.detach().to(feat.dtype))
        sizes = torch.stack([head(centre_feat[:, i]) for i, head in
                             enumerate((self.lhand_size, self.rhand_size, self.face_size))], dim=1)
        return torch.cat((centres / BOX_MAP_UPSCALE, sizes.to(centres.dtype)), dim=-1)


class HandRoI(nn.Module):
    """×4 upsampled features → RoI-align 16×16 per hand (left crop mirrored) → 1×1 conv back to C."""

    def __init__(self, feat_dim: int):
        super().__init__()
        self.deconv = deconv_stack([feat_dim, feat_dim // 2, feat_dim // 4])
        self.conv = conv_stack([feat_dim // 4, feat_dim], final_bn_relu=False)

    def forward(self, fmap: torch.Tensor, lhand_xyxy: torch.Tensor, rhand_xyxy: torch.Tensor) -> torch.Tensor:
        feat = self.deconv(fmap)
        scale = FEATURE_SHAPE[1] * HAND_FEAT_UPSCALE / INPUT_SHAPE[1]  # body-input pixels → feature pixels
        size = HAND_HM_SHAPE[1:]
        left = roi_align(feat, lhand_xyxy.detach(), size, scale).flip(-1)
        right = roi_align(feat, rhand_xyxy.detach(), size, scale)
        return self.conv(torch.cat((left, right), dim=0))  # (2B, C, 16, 16): lefts first


class HandRotationNet(nn.Module):
    def __init__(self, feat_dim: int, rot_feat: int):
        super().__init__()
        self.hand_conv = conv_stack([feat_dim, rot_feat])
        self.hand_pose_out = mlp([NUM_HAND_POS_JOINTS * (rot_feat + 3), 15 * 6])

    def forward(self, hand_feat: torch.Tensor, joint_coords: torch.Tensor) -> torch.Tensor:
        feat = self.hand_conv(hand_feat)
        joint_feat = sample_features(feat, joint_coords[..., :2].to(feat.dtype))
        out = self.hand_pose_out(torch.cat((joint_feat, joint_coords.to(joint_feat.dtype)), dim=2).flatten(1))
        return out.reshape(-1, 15, 6)


class FaceRegressor(nn.Module):
    def __init__(self, feat_dim: int):
        super().__init__()
        self.expr_out = mlp([feat_dim, 10])
        self.jaw_pose_out = mlp([feat_dim, 6])

    def forward(self, expr_token, jaw_token):
        return self.expr_out(expr_token), self.jaw_pose_out(jaw_token)


class SMPLerX(nn.Module):
    arch = "smpler_x"

    def __init__(self, size: str = "H"):
        super().__init__()
        self.size = size
        self.encoder = ViT(vit_size(size), NUM_TASK_TOKENS)
        c = self.encoder.embed_dim
        heads = TINY_HEADS if size == "tiny" else PAPER_HEADS
        self.body_position_net = PositionNet(c, NUM_BODY_POS_JOINTS, BODY_HM_SHAPE)
        self.body_regressor = BodyRotationNet(c, heads["rot_feat"])
        self.box_net = BoxNet(c, heads["box_channels"])
        self.hand_roi_net = HandRoI(c)
        self.hand_position_net = PositionNet(c, NUM_HAND_POS_JOINTS, HAND_HM_SHAPE)
        self.hand_regressor = HandRotationNet(c, heads["rot_feat"])
        self.face_regressor = FaceRegressor(c)

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens, fmap = self.encoder(body_input(img))
        tok = {name: tokens[:, s] for name, s in TOKEN_SLICES.items()}
        body_prob, body_joint_hm = self.body_position_net(fmap)
        root6d, body6d, betas, cam = self.body_regressor(
            tok["body"], tok["shape"][:, 0], tok["cam"][:, 0], body_joint_hm.detach())
        boxes = self.box_net(fmap, body_prob.detach())
        lhand_xyxy = restore_bbox(boxes[:, 0, :2], boxes[:, 0, 2:], HAND_BOX_ASPECT, HAND_BOX_EXTENSION).detach()
        rhand_xyxy = restore_bbox(boxes[:, 1, :2], boxes[:, 1, 2:], HAND_BOX_ASPECT, HAND_BOX_EXTENSION).detach()
        face_xyxy = restore_bbox(boxes[:, 2, :2], boxes[:, 2, 2:], FACE_BOX_ASPECT, FACE_BOX_EXTENSION).detach()
        hand_feat = self.hand_roi_net(fmap, lhand_xyxy, rhand_xyxy)
        _, hand_joint_hm = self.hand_position_net(hand_feat)
        hand6d = self.hand_regressor(hand_feat, hand_joint_hm.detach())
        expr, jaw6d = self.face_regressor(tok["expr"][:, 0], tok["jaw"][:, 0])

        b = img.shape[0]
        dtype = torch.promote_types(hand6d.dtype, torch.float32)  # float32 under autocast, float64 if run so
        hand_mats = rot6d_to_matrix(hand6d.to(dtype))
        rotmats = {
            "global_orient": rot6d_to_matrix(root6d.to(dtype)),
            "body_pose": rot6d_to_matrix(body6d.to(dtype)),
            "left_hand_pose": hand_mats[:b] * _MIRROR_SIGNS.to(hand_mats),  # the left crop was mirrored
            "right_hand_pose": hand_mats[b:],
            "jaw_pose": rot6d_to_matrix(jaw6d.to(dtype)),
        }
        out = {k: matrix_to_axis_angle(m) for k, m in rotmats.items()}
        out.update(betas=betas.to(dtype), expression=expr.to(dtype), transl=camera_translation(cam.to(dtype)))
        out["rotmats"] = rotmats
        out["body_joint_hm"] = body_joint_hm  # (B, 25, 3) in BODY_HM_SHAPE cells (x, y, z)
        out["hand_joint_hm"] = torch.stack((hand_joint_hm[:b], hand_joint_hm[b:]), dim=1)  # (B, 2, 20, 3), left mirrored
        out["boxes"] = boxes  # (B, 3, 4): lhand, rhand, face (cx, cy, w, h) in body heat-map cells
        out["hand_boxes_xyxy"] = torch.stack((lhand_xyxy, rhand_xyxy), dim=1)  # body-input pixels
        # the official test outputs: xyxy in the 512×384 crop (input_img_shape)
        to_crop = boxes.new_tensor([CROP_SHAPE[1] / INPUT_SHAPE[1], CROP_SHAPE[0] / INPUT_SHAPE[0]] * 2)
        out.update(lhand_bbox=lhand_xyxy * to_crop, rhand_bbox=rhand_xyxy * to_crop, face_bbox=face_xyxy * to_crop)
        return out
