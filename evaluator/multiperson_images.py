"""Whole rendered images with 1-4 people each, for multi-person (``agora-multiperson``) model submissions.

The people, camera, shading and splatting are evaluator.image_benchmark's; here several people share
one z-buffer, so nearer people hide farther ones. Layout written under ``out_dir``::

    input/manifest.json   {"benchmark": slug, "input": "whole-image",
                           "samples": [{"sample_id": image id, "image", "width", "height"}]}
    input/images/*.png    what the model sees: no person boxes, no person count
    gt.npz                multi-person GT (evaluator.multiperson_format): never bound into a sandbox

Per person the GT holds ``joints2d`` (the 24 SMPL-X body joints projected), ``vertices`` (camera frame,
metres), ``occlusion``, ``valid`` (always True: the protocol itself drops people over 90 % occluded),
``kid``, ``yaw`` and the image size.

- Occlusion (%) comes from the z-buffer: the share of the person's vertices whose own pixel shows
  another person, or that fall outside the image. A person's own back does not count (AGORA's figure
  is also about what others and the frame hide).
- Kids: the adult body scaled by `KID_SCALE` about its pelvis (a scaled template; AGORA blends the SMIL
  kid template into SMPL-X instead). Kids stand at adult depths, so they look smaller. Their GT is
  the scaled mesh, hence ``vertices`` rather than SMPL-X parameters in the GT file.
- Yaw: written in degrees so that a person facing the camera sits at orientation 22.5 degrees, the middle
  of the first 45-degree bin of the protocol's orientation breakdown (``cam_yaw`` 0).
"""
from __future__ import annotations

import json
import math
import os

import numpy as np
import torch
from PIL import Image

from .body_model import load_body_model
from .image_benchmark import (
    ImageBenchmarkPaths, image_focal, nearest_splats, output_folders, part_colours, project, sample_params,
    smooth_background, vertex_shading)
from .multiperson_format import MATCH_JOINTS
from .protocols.base import WHOLE_IMAGE as WHOLE_IMAGE_INPUT  # the manifest's "input"

KID_SCALE = 0.6
KID_RATE = 0.25
FILL_RANGE = (0.45, 0.8)  # an adult's height as a share of the image height
MESH_CHUNK = 128  # people meshed per body-model call


def occlusion_percent(uv: np.ndarray, depth: np.ndarray, image_size: tuple[int, int],
                      zbuffer: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """(K,) % of each person's vertices hidden by another person or outside the image.

    ``uv`` (K, V, 2) pixels, ``depth`` (K, V); ``zbuffer`` is `nearest_splats` of all K people flattened
    (computed when not given). A vertex is visible when the nearest splat on its own pixel is its person's.
    """
    k, v = depth.shape
    h, w = image_size
    pixel, owner = zbuffer if zbuffer is not None else nearest_splats(uv.reshape(-1, 2), depth.reshape(-1), image_size)
    person_at = np.full(h * w, -1, dtype=np.int64)
    person_at[pixel] = owner // v
    centre = np.round(uv).astype(np.int64)
    inside = (centre[..., 0] >= 0) & (centre[..., 0] < w) & (centre[..., 1] >= 0) & (centre[..., 1] < h)
    flat = np.where(inside, centre[..., 1] * w + centre[..., 0], 0)
    visible = inside & (person_at[flat] == np.arange(k)[:, None])
    return 100.0 * (1.0 - visible.mean(axis=1))


def _layout(counts: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per person: image-fraction centre x, y and adult height fill; people of an image spread across it
    in random order, with jitter enough that neighbours often overlap."""
    slots = np.concatenate([rng.permutation(c) for c in counts])
    per_image = np.repeat(counts, counts)
    x = (slots + 0.5) / per_image + rng.normal(0, 0.08, len(slots))
    y = 0.5 + rng.normal(0, 0.04, len(slots))
    return np.clip(x, 0.1, 0.9), y, rng.uniform(*FILL_RANGE, len(slots))


def _people(body, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Vertices (n, V, 3) float64 at the origin, kid flags, yaw (radians) and adult heights of ``n`` people."""
    yaw = rng.uniform(-math.pi / 3, math.pi / 3, n)
    params = sample_params(n, rng, yaw=yaw)
    params["transl"] = np.zeros((n, 3))
    pelvis_row = body.J_regressor[0].detach().cpu().double().numpy()
    verts = []
    for start in range(0, n, MESH_CHUNK):
        chunk = {k: torch.as_tensor(v[start: start + MESH_CHUNK], dtype=body.dtype) for k, v in params.items()}
        verts.append(body.vertices(chunk).detach().cpu().double().numpy())
    vertices = np.concatenate(verts)
    kid = rng.random(n) < KID_RATE
    pelvis = np.einsum("v,nvc->nc", pelvis_row, vertices)[:, None]
    vertices = np.where(kid[:, None, None], pelvis + KID_SCALE * (vertices - pelvis), vertices)
    return {"vertices": vertices, "kid": kid, "yaw": yaw, "adult_height": _heights(vertices, kid)}


def _heights(vertices: np.ndarray, kid: np.ndarray) -> np.ndarray:
    """Vertical extent each person would have as an adult (kids are placed at adult depths)."""
    extent = vertices[..., 1].max(1) - vertices[..., 1].min(1)
    return np.where(kid, extent / KID_SCALE, extent)


def _place(vertices: np.ndarray, adult_height: np.ndarray, x: np.ndarray, y: np.ndarray, fill: np.ndarray,
           image_size: tuple[int, int]) -> np.ndarray:
    """Vertices moved so each body's box centre projects to (x, y) image fractions at the depth where an
    adult of its height spans ``fill`` of the image height."""
    h, w = image_size
    focal = image_focal(image_size)
    lo, hi = vertices.min(1), vertices.max(1)
    centre = (lo + hi) / 2
    depth = focal * adult_height / (fill * h)
    target = np.stack([(x - 0.5) * w * depth / focal, (y - 0.5) * h * depth / focal, depth], 1)
    return vertices + (target - centre)[:, None]


def make_multiperson_image_benchmark(out_dir: str | os.PathLike, model_dir: str | os.PathLike, num_images: int,
                                     seed: int = 0, image_size: tuple[int, int] = (240, 320), max_people: int = 4,
                                     slug: str = "synthetic-multiperson") -> ImageBenchmarkPaths:
    """Render ``num_images`` images of 1-``max_people`` people; ``image_size`` is (height, width).
    Deterministic for a given seed."""
    if num_images <= 0 or max_people <= 0:
        raise ValueError(f"num_images and max_people must be positive, got {num_images} and {max_people}")
    out, input_dir = output_folders(out_dir)
    rng = np.random.default_rng(seed)
    body = load_body_model(model_dir)
    counts = rng.integers(1, max_people + 1, num_images)
    people = _people(body, int(counts.sum()), rng)
    cam = _place(people["vertices"], people["adult_height"], *_layout(counts, rng), image_size)
    shading = vertex_shading(torch.as_tensor(cam), body.layer.faces_tensor.cpu()).numpy()
    uv = project(cam, image_size)
    colours = np.clip(part_colours(body)[None] * shading[..., None], 0, 255).astype(np.uint8)
    occlusion = np.zeros(len(cam))
    image_ids, samples = [], []
    h, w = image_size
    starts = np.concatenate([[0], np.cumsum(counts)])
    for i in range(num_images):
        rows = slice(starts[i], starts[i + 1])
        image_id = f"mp{seed}_{i:05d}"
        zbuffer = nearest_splats(uv[rows].reshape(-1, 2), cam[rows, :, 2].reshape(-1), image_size)
        occlusion[rows] = occlusion_percent(uv[rows], cam[rows, :, 2], image_size, zbuffer)
        image = smooth_background(image_size, rng).reshape(-1, 3)
        image[zbuffer[0]] = colours[rows].reshape(-1, 3)[zbuffer[1]]
        name = f"images/{i:05d}.png"
        Image.fromarray(image.reshape(h, w, 3)).save(input_dir / name)
        image_ids += [image_id] * int(counts[i])
        samples.append({"sample_id": image_id, "image": name, "width": w, "height": h})
    manifest = {"benchmark": slug, "input": WHOLE_IMAGE_INPUT, "samples": samples}
    (input_dir / "manifest.json").write_text(json.dumps(manifest, indent=1))
    joints = np.einsum("jv,nvc->njc", body.J_regressor[:MATCH_JOINTS].detach().cpu().double().numpy(), cam)
    n = len(cam)
    gt_path = out / "gt.npz"
    np.savez(gt_path, image_ids=np.array(image_ids), joints2d=project(joints, image_size).astype(np.float32),
             vertices=cam.astype(np.float32), occlusion=occlusion.astype(np.float32), valid=np.ones(n, bool),
             kid=people["kid"], yaw=((np.degrees(people["yaw"]) + 90) % 360).astype(np.float32),
             image_width=np.full(n, w, np.float32), image_height=np.full(n, h, np.float32))
    return ImageBenchmarkPaths(input_dir=input_dir, gt_path=gt_path)
