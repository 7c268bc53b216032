"""Multi-person inference on whole images: a detector stage, then a per-person regressor on crops.

    predictions = predict_people(model, benchmark_dir, body_model_dir)   # -> multi-person prediction npz arrays

1. `reference_models.detector.detect` finds people (no boxes are given on whole-image benchmarks).
2. Each detection box is cropped as the single-person path crops a given box (`data.crop`: 3:4 aspect,
   the model's box ratio, 256x192) and the regressor runs on the crops in batches. The regressor is a
   reference model (SMPLer-X / SMPLest-X: SMPL-X parameters with ``transl`` in the crop's virtual camera)
   or `TemplateRegressor`.
3. Per person: ``joints2d`` are the regressed body's first 24 SMPL-X joints projected by the crop camera
   and mapped back to image pixels; ``transl`` is moved into the image camera (focal from the manifest's
   ``focal``, else 5000 px per 256 px of image height, evaluator.image_benchmark's convention) so the
   root projects to the same pixel at the depth matching the crop's scale; ``scores`` are the detector's.

Output: ``image_ids`` (P,), ``joints2d`` (P, 24, 2), the SMPL-X arrays (P, ...), ``scores`` (P,), float32:
the agora-multiperson prediction layout (docs/formats.md). An image with nobody found has no rows.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from PIL import Image

from .body import SMPLXJoints
from .data.crop import BOX_ENLARGE, crop_affine, crop_box, warp_image
from .detector import detect
from .layers import FOCAL, project_points
from .models import INFERENCE_BOX_RATIO
from .smplx_layout import PARAM_SHAPES
from .vit import INPUT_SHAPE

MATCH_JOINTS = 24
CROP_CAMERA_HEIGHT = 256  # evaluator.image_benchmark: focal 5000 px per 256 px of image height


class TemplateRegressor(nn.Module):
    """The demo's regressor: the mean SMPL-X body (zero pose and shape, facing the camera), sized and placed so
    its box fills the crop's person box (the central 1/ratio of the crop). It reads no pixels: what varies
    between people is only where the detector put them, so its errors are those of the mean pose."""

    arch = "template"

    def __init__(self, joints: SMPLXJoints, box_ratio: float = BOX_ENLARGE):
        super().__init__()
        zero = {k: torch.zeros((1, *shape)) for k, shape in PARAM_SHAPES.items()}
        zero["global_orient"][0, 0] = torch.pi  # upright in the camera frame (y down)
        with torch.no_grad():
            verts = joints(zero)["vertices"][0]
        lo, hi = verts.min(0).values, verts.max(0).values
        crop_h, crop_w = INPUT_SHAPE[0] / box_ratio, INPUT_SHAPE[1] / box_ratio  # the box inside the crop (px)
        depth = FOCAL[0] * max(float(hi[1] - lo[1]) / crop_h, float(hi[0] - lo[0]) / crop_w)
        centre = (lo + hi) / 2
        zero["transl"][0] = torch.tensor([-centre[0], -centre[1], depth - centre[2]])
        self.box_ratio = box_ratio
        for key, value in zero.items():
            self.register_buffer(key, value, persistent=False)

    def forward(self, img: torch.Tensor) -> dict[str, torch.Tensor]:
        b = img.shape[0]
        return {k: getattr(self, k).expand(b, *PARAM_SHAPES[k]) for k in PARAM_SHAPES}


def _manifest(benchmark: str | Path) -> tuple[Path, list[dict]]:
    path = Path(benchmark)
    path = path / "manifest.json" if path.is_dir() else path
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or data.get("gt"):
        raise ValueError(f"{path}: expected a model-input manifest (a dict without 'gt')")
    return path.parent, list(data["samples"])


def _to_image_camera(transl: torch.Tensor, root: torch.Tensor, affine: np.ndarray, focal: float,
                     centre: tuple[float, float]) -> torch.Tensor:
    """``transl`` moved from the crop camera so the root keeps its image pixel, at the depth whose scale in the
    image camera equals the crop's (``affine``: image -> crop pixels, scale ``affine[0, 0]``)."""
    crop_px = project_points(root)
    scale = float(affine[0, 0])
    image_px = (crop_px - root.new_tensor(affine[:2, 2])) / scale
    depth = root[:, 2] * focal * scale / FOCAL[0]
    xy = (image_px - root.new_tensor(centre)) * depth[:, None] / focal
    return transl + torch.cat([xy, depth[:, None]], 1) - root


@torch.no_grad()
def predict_people(model: nn.Module, benchmark: str | Path, body_model_dir: str | Path, batch_size: int = 16,
                   device: str | torch.device = "cpu", box_ratio: float | None = None,
                   timings: list[float] | None = None) -> dict[str, np.ndarray]:
    """Detect and regress every person of every image of a whole-image benchmark (see the module docstring).

    ``timings``, when given, receives one figure: milliseconds per image of the whole run (detector, crops and
    regressor: on a whole image they are all the model's work), the board's ms/image for such a benchmark.
    """
    start = time.perf_counter()
    root, samples = _manifest(benchmark)
    ratio = box_ratio or getattr(model, "box_ratio", None) or INFERENCE_BOX_RATIO.get(getattr(model, "arch", ""), BOX_ENLARGE)
    joints_layer = SMPLXJoints(body_model_dir).to(device)
    model.to(device).eval()
    people = []  # (image id, box, score, image path, focal, image centre)
    for sample in samples:
        image_path = root / sample["image"]
        with Image.open(image_path) as img:
            pixels = np.asarray(img.convert("RGB"))
        h, w = pixels.shape[:2]
        focal = float(sample.get("focal", FOCAL[0] * h / CROP_CAMERA_HEIGHT))
        for det in detect(pixels[None])[0]:
            people.append((str(sample["sample_id"]), np.asarray(det.box_xywh), det.score, image_path, focal, (w / 2, h / 2)))
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in (*PARAM_SHAPES, "joints2d")}
    for start in range(0, len(people), batch_size):
        part = people[start: start + batch_size]
        affines = [crop_affine(crop_box(box, ratio)) for _, box, *_ in part]
        crops = []
        for (_, _, _, path, _, _), affine in zip(part, affines):
            with Image.open(path) as img:
                crops.append(warp_image(img, affine))
        out = model(torch.from_numpy(np.stack(crops)).to(device))
        params = {k: out[k].float().reshape(len(part), *PARAM_SHAPES[k]).clone() for k in PARAM_SHAPES}
        joints = joints_layer(params)["joints"][:, :MATCH_JOINTS]
        crop_px = project_points(joints).cpu().numpy()
        for i, ((_, _, _, _, focal, centre), affine) in enumerate(zip(part, affines)):
            inverse = np.linalg.inv(affine)
            chunks["joints2d"].append((crop_px[i] @ inverse[:2, :2].T + inverse[:2, 2])[None])
            params["transl"][i: i + 1] = _to_image_camera(params["transl"][i: i + 1], joints[i: i + 1, 0], affine,
                                                          focal, centre)
        for k in PARAM_SHAPES:
            chunks[k].append(params[k].cpu().numpy())
    arrays = {k: (np.concatenate(v) if v else np.zeros((0, *(PARAM_SHAPES.get(k) or (MATCH_JOINTS, 2)))))
              .astype(np.float32) for k, v in chunks.items()}
    if timings is not None and samples:
        if str(device).startswith("cuda"):
            torch.cuda.synchronize(device)
        timings.append(1000.0 * (time.perf_counter() - start) / len(samples))
    return {"image_ids": np.array([p[0] for p in people], dtype=str), **arrays,
            "scores": np.array([p[2] for p in people], dtype=np.float32)}
