"""A held-out image benchmark rendered from known SMPL-X parameters, for scoring model submissions.

Random plausible parameters → meshes (`BodyModel.vertices`) → placed in front of a pinhole camera
equivalent to SMPLer-X's body-crop camera (focal 5000 px for a 256-px-high crop, scaled to the image
height, principal point at the centre) → z-buffered, Lambert-shaded point splats coloured by body part
over a smooth random background. Layout written under ``out_dir``::

    input/manifest.json   {"benchmark": slug, "samples": [{"sample_id", "image", "bbox_xywh"}]}
    input/images/*.png    what the model sees (``input/`` is what the runners bind read-only)
    gt.npz                the ground truth in evaluator.formats' layout; never bound into a sandbox

The person box is the bounding box of the projected vertices, clipped to the image.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .body_model import BodyModel, load_body_model
from .formats import PARAM_SHAPES, SAMPLE_IDS

CROP_FOCAL = 5000.0  # SMPLer-X: focal length of the 256×192 body-crop camera
CROP_HEIGHT = 256
FILL_RANGE = (0.6, 0.8)  # fraction of the image the body's larger extent covers
SPLAT_RADIUS = 1  # each vertex covers a (2r+1)² pixel square
AMBIENT = 0.35


@dataclass(frozen=True)
class ImageBenchmarkPaths:
    input_dir: Path  # manifest.json + images/: the model's read-only input
    gt_path: Path  # private ground truth


def sample_params(num: int, rng: np.random.Generator, yaw: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Random SMPL-X parameters of people roughly facing the camera (camera y points down), turned by
    ``yaw`` (radians; drawn in +-60 degrees when not given)."""
    # R_x(pi) @ R_y(yaw) is a half turn about (cos(yaw/2), 0, sin(yaw/2)): upright, turned by yaw.
    yaw = rng.uniform(-math.pi / 3, math.pi / 3, num) if yaw is None else yaw
    upright = math.pi * np.stack([np.cos(yaw / 2), np.zeros(num), np.sin(yaw / 2)], axis=1)
    return {
        "global_orient": upright + rng.normal(0, 0.08, (num, 3)),
        "body_pose": rng.normal(0, 0.2, (num, 21, 3)),
        "left_hand_pose": rng.normal(0, 0.2, (num, 15, 3)),
        "right_hand_pose": rng.normal(0, 0.2, (num, 15, 3)),
        "jaw_pose": rng.normal(0, 0.1, (num, 3)) * [1.0, 0.2, 0.2],
        "betas": rng.normal(0, 1, (num, 10)),
        "expression": rng.normal(0, 1, (num, 10)),
    }


def image_focal(image_size: tuple[int, int]) -> float:
    """Focal length (px) making a crop of the full image height see SMPLer-X's crop camera."""
    return CROP_FOCAL * image_size[0] / CROP_HEIGHT


def place_in_view(vertices: np.ndarray, image_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """``transl`` (N, 3) putting each body at a depth where it fills `FILL_RANGE` of the frame, near the centre."""
    h, w = image_size
    focal = image_focal(image_size)
    lo, hi = vertices.min(1), vertices.max(1)
    fill = rng.uniform(*FILL_RANGE, len(vertices))
    depth = focal * np.maximum((hi[:, 1] - lo[:, 1]) / (fill * h), (hi[:, 0] - lo[:, 0]) / (fill * w))
    shift = rng.uniform(-0.05, 0.05, (len(vertices), 2)) * np.array([w, h]) * depth[:, None] / focal
    centre = (lo + hi) / 2
    return np.stack([shift[:, 0] - centre[:, 0], shift[:, 1] - centre[:, 1], depth - centre[:, 2]], 1)


def project(points: np.ndarray, image_size: tuple[int, int]) -> np.ndarray:
    h, w = image_size
    return points[..., :2] / points[..., 2:3] * image_focal(image_size) + np.array([w / 2, h / 2])


def vertex_shading(vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Two-sided Lambert factor (N, V) for a light at the camera, from area-weighted vertex normals."""
    v0, v1, v2 = (vertices[:, faces[:, k]] for k in range(3))
    face_normals = torch.cross(v1 - v0, v2 - v0, dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, faces[:, k], face_normals)
    normals = torch.nn.functional.normalize(normals, dim=-1)
    view = torch.nn.functional.normalize(vertices, dim=-1)
    return AMBIENT + (1 - AMBIENT) * (normals * view).sum(-1).abs()


def nearest_splats(uv: np.ndarray, depth: np.ndarray, image_size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The z-buffer of point splats: (covered flat pixel indices, index of the nearest vertex covering each)."""
    h, w = image_size
    offsets = np.arange(-SPLAT_RADIUS, SPLAT_RADIUS + 1)
    du, dv = (a.ravel() for a in np.meshgrid(offsets, offsets))
    base = np.round(uv).astype(np.int64)
    us, vs = (base[:, None, 0] + du).ravel(), (base[:, None, 1] + dv).ravel()
    z = np.repeat(depth, du.size)
    owner = np.repeat(np.arange(len(uv)), du.size)
    inside = (us >= 0) & (us < w) & (vs >= 0) & (vs < h)
    pixel, z, owner = (vs * w + us)[inside], z[inside], owner[inside]
    order = np.lexsort((z, pixel))  # by pixel, nearest first
    pixel, owner = pixel[order], owner[order]
    first = np.ones(len(pixel), dtype=bool)
    first[1:] = pixel[1:] != pixel[:-1]
    return pixel[first], owner[first]


def splat(uv: np.ndarray, depth: np.ndarray, colours: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Z-buffered point splats: each pixel takes the colour of the nearest vertex covering it."""
    h, w = background.shape[:2]
    pixel, owner = nearest_splats(uv, depth, (h, w))
    image = background.reshape(-1, 3).copy()
    image[pixel] = colours[owner]
    return image.reshape(h, w, 3)


def smooth_background(image_size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A dim vertical gradient between two random colours with a little pixel noise."""
    h, w = image_size
    top, bottom = rng.uniform(10, 110, (2, 3))
    t = np.linspace(0, 1, h)[:, None, None]
    img = top * (1 - t) + bottom * t + rng.normal(0, 4, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def part_colours(body: BodyModel) -> np.ndarray:
    """(V, 3) base colour per vertex from the joint that skins it most: parts stay distinguishable."""
    owner = body.layer.lbs_weights.argmax(1).cpu().numpy()
    palette = np.random.default_rng(1234).uniform(90, 255, (int(owner.max()) + 1, 3))
    return palette[owner]


def output_folders(out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """``out_dir`` and its ``input/`` folder (with ``images/``), created."""
    out = Path(out_dir)
    (out / "input" / "images").mkdir(parents=True, exist_ok=True)
    return out, out / "input"


def make_image_benchmark(out_dir: str | os.PathLike, model_dir: str | os.PathLike, num_samples: int, seed: int = 0,
                         image_size: tuple[int, int] = (256, 256), slug: str = "synthetic-images") -> ImageBenchmarkPaths:
    """Render ``num_samples`` people; ``image_size`` is (height, width). Deterministic for a given seed."""
    if num_samples <= 0:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    out, input_dir = output_folders(out_dir)
    rng = np.random.default_rng(seed)
    body = load_body_model(model_dir)
    params = sample_params(num_samples, rng)
    at_origin = {**params, "transl": np.zeros((num_samples, 3))}  # transl only shifts the mesh: set it after
    vertices = body.vertices({k: torch.as_tensor(v, dtype=body.dtype) for k, v in at_origin.items()}).cpu()
    params["transl"] = place_in_view(vertices.numpy(), image_size, rng)
    cam_vertices = vertices + torch.as_tensor(params["transl"], dtype=vertices.dtype)[:, None]
    shading = vertex_shading(cam_vertices, body.layer.faces_tensor.cpu()).numpy()
    cam_vertices = cam_vertices.numpy()
    base_colour = part_colours(body)
    h, w = image_size

    samples = []
    for i in range(num_samples):
        uv = project(cam_vertices[i], image_size)
        colours = np.clip(base_colour * shading[i, :, None], 0, 255).astype(np.uint8)
        image = splat(uv, cam_vertices[i, :, 2], colours, smooth_background(image_size, rng))
        name = f"images/{i:05d}.png"
        Image.fromarray(image).save(input_dir / name)
        lo = np.clip(uv.min(0), 0, [w, h])
        hi = np.clip(uv.max(0), 0, [w, h])
        samples.append({"sample_id": f"img{seed}_{i:05d}", "image": name,
                        "bbox_xywh": [round(float(v), 2) for v in (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])]})
    (input_dir / "manifest.json").write_text(json.dumps({"benchmark": slug, "samples": samples}, indent=1))

    gt_path = out / "gt.npz"
    np.savez(gt_path, **{SAMPLE_IDS: np.array([s["sample_id"] for s in samples])},
             **{k: np.asarray(params[k], dtype=np.float32).reshape(num_samples, *PARAM_SHAPES[k][0])
                for k in params})
    return ImageBenchmarkPaths(input_dir=input_dir, gt_path=gt_path)
