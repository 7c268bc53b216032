"""Synthetic image sets rendered from known SMPL-X parameters (for CPU training / tests).

Each person is a point-splat render of the posed SMPL-X mesh (any model dir, e.g. the synthetic one
from ``python -m evaluator make-synthetic-model``), coloured by the joint that owns each vertex and
shaded by depth, over a random background. Output: ``manifest.json`` (see ``sources``),
``images/*.png``, ``gt.npz`` (``sample_ids`` + SMPL-X axis-angle params incl. ``transl``: the evaluator's
GT layout, scored by ``python -m evaluator score`` as is) and ``keypoints2d.npz`` (``sample_ids``,
``keypoints2d`` (N, 55, 3) in image pixels; training only).

    python -m reference_models.data.synthetic --model-dir DIR --out OUT --num 500 --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..body import SMPLXJoints
from ..rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..smplx_layout import PARAM_SHAPES

IMAGE_SIZE = (512, 384)  # (H, W)
FOCAL = 10000.0  # the body-input camera (f = 5000 at 256×192) at 2× resolution
SPLAT = 2  # each vertex covers a (2·SPLAT+1)² square


@dataclass(frozen=True)
class Domain:
    """What a synthetic set's people and cameras look like (the scaling study gives each "dataset" its own)."""
    yaw_deg: float = 60.0  # body yaw uniform in ±yaw_deg (0 = facing the camera)
    fill: tuple[float, float] = (0.6, 0.8)  # fraction of the frame the body fills (camera distance)
    pose_sigma: float = 0.3  # body-pose axis-angle std (rad)
    shape_sigma: float = 1.0  # betas std
    hands: bool = True  # False: hands at the mean pose, and the set carries no hand labels

    @classmethod
    def of(cls, spec: dict | None) -> "Domain":
        spec = dict(spec or {})
        if "fill" in spec:
            spec["fill"] = tuple(spec["fill"])
        return cls(**spec)


def sample_params(n: int, rng: np.random.Generator, domain: Domain = Domain()) -> dict[str, np.ndarray]:
    """Plausible-ish random SMPL-X params, facing the camera (camera y points down)."""
    yaw = rng.uniform(-1, 1, n) * math.radians(domain.yaw_deg)
    tilt = rng.normal(0, 0.15, (n, 3))
    flip_up = axis_angle_to_matrix(torch.tensor([math.pi, 0.0, 0.0])).expand(n, 3, 3)
    yaw_m = axis_angle_to_matrix(torch.from_numpy(np.stack([np.zeros(n), yaw, np.zeros(n)], 1)).float())
    root = flip_up @ axis_angle_to_matrix(torch.from_numpy(tilt).float()) @ yaw_m
    hand_sigma = 0.3 if domain.hands else 0.0
    return {
        "global_orient": matrix_to_axis_angle(root).numpy(),
        "body_pose": rng.normal(0, domain.pose_sigma, (n, 21, 3)).astype(np.float32),
        "left_hand_pose": rng.normal(0, hand_sigma, (n, 15, 3)).astype(np.float32),
        "right_hand_pose": rng.normal(0, hand_sigma, (n, 15, 3)).astype(np.float32),
        "jaw_pose": (rng.normal(0, 0.1, (n, 3)) * [1, 0.2, 0.2]).astype(np.float32),
        "betas": rng.normal(0, domain.shape_sigma, (n, 10)).astype(np.float32),
        "expression": rng.normal(0, 1, (n, 10)).astype(np.float32),
    }


def _project(points: np.ndarray) -> np.ndarray:
    h, w = IMAGE_SIZE
    return points[..., :2] / points[..., 2:3] * FOCAL + np.array([w / 2, h / 2])


def _place(vertices: np.ndarray, rng: np.random.Generator, fill_range: tuple[float, float] = (0.6, 0.8)) -> np.ndarray:
    """Translation putting each body at a depth where it fills ~60-80% of the frame."""
    h, w = IMAGE_SIZE
    lo, hi = vertices.min(1), vertices.max(1)
    fill = rng.uniform(*fill_range, len(vertices))
    z = FOCAL * np.maximum((hi[:, 1] - lo[:, 1]) / (fill * h), (hi[:, 0] - lo[:, 0]) / (fill * w))
    offset = rng.normal(0, 0.05, (len(vertices), 2)) * z[:, None] * np.array([w, h]) / FOCAL
    centre = (lo + hi) / 2
    return np.stack([offset[:, 0] - centre[:, 0], offset[:, 1] - centre[:, 1], z - centre[:, 2]], 1).astype(np.float32)


def render(vertices_cam: np.ndarray, colours: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Depth-sorted point splats: far vertices first so nearer ones overwrite them."""
    h, w = IMAGE_SIZE
    img = np.broadcast_to(background, (h, w, 3)).copy()
    order = np.argsort(-vertices_cam[:, 2])
    uv = np.round(_project(vertices_cam[order])).astype(np.int64)
    z = vertices_cam[order, 2]
    shade = 1.0 - 0.5 * (z - z.min()) / max(float(np.ptp(z)), 1e-6)
    col = np.clip(colours[order] * shade[:, None], 0, 255).astype(np.uint8)
    offsets = np.arange(-SPLAT, SPLAT + 1)
    du, dv = np.meshgrid(offsets, offsets)
    us = (uv[:, None, 0] + du.ravel()).ravel()
    vs = (uv[:, None, 1] + dv.ravel()).ravel()
    cs = np.repeat(col, du.size, axis=0)
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    img[vs[inside], us[inside]] = cs[inside]  # later (nearer) writes win
    return img


def make_synthetic_image_set(out_dir: str | Path, model_dir: str | Path, num: int, seed: int = 0,
                             progress: bool = True, domain: dict | None = None) -> Path:
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    body = SMPLXJoints(model_dir)
    dom = Domain.of(domain)
    params = sample_params(num, rng, dom)
    with torch.no_grad():
        posed = body({k: torch.from_numpy(v) for k, v in params.items()})
    verts = posed["vertices"].numpy()
    params["transl"] = _place(verts, rng, dom.fill)
    verts_cam = verts + params["transl"][:, None]
    joints_cam = posed["joints"].numpy() + params["transl"][:, None]
    owner = body.layer.lbs_weights.argmax(1).numpy()
    palette = np.random.default_rng(1234).uniform(60, 255, (owner.max() + 1, 3))
    colours = palette[owner]
    samples, kp = [], np.ones((num, 55, 3), np.float32)
    for i in tqdm(range(num), desc=f"render {out.name}", disable=not progress):
        background = rng.uniform(0, 90, 3) + rng.normal(0, 8, (*IMAGE_SIZE, 3))
        img = render(verts_cam[i], colours, np.clip(background, 0, 255).astype(np.uint8))
        name = f"images/{i:06d}.png"
        Image.fromarray(img).save(out / name)
        uv = _project(verts_cam[i])
        lo, hi = uv.min(0), uv.max(0)
        kp[i, :, :2] = _project(joints_cam[i])
        samples.append({"sample_id": f"syn{seed}_{i:06d}", "image": name,
                        "bbox_xywh": [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]})
    sample_ids = np.array([s["sample_id"] for s in samples])
    np.savez(out / "gt.npz", sample_ids=sample_ids,
             **{k: params[k].reshape((num,) + PARAM_SHAPES[k]).astype(np.float32) for k in PARAM_SHAPES})
    np.savez(out / "keypoints2d.npz", sample_ids=sample_ids, keypoints2d=kp)
    manifest = {"samples": samples, "gt": "gt.npz", "keypoints2d": "keypoints2d.npz"}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", required=True, help="SMPL-X model dir (MODEL_DIR/smplx/SMPLX_NEUTRAL.npz)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--num", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(make_synthetic_image_set(args.out, args.model_dir, args.num, args.seed))


if __name__ == "__main__":
    main()
