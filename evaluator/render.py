"""Pictures of single samples for the failures page (issue 22 §4): front and side views, deterministic PNG bytes.

Each view is an orthographic, z-buffered, Lambert-shaded point-splat render (``evaluator.image_benchmark``'s splats
and shading: the repository's one renderer) of pelvis-aligned meshes in the camera frame (y down; the side view
turns the body a quarter about the vertical axis). Two kinds, chosen by the caller from the split's
``public_ground_truth`` flag (docs/security.md, "Failure renders"):

- ``render_part_errors``: the prediction alone, each part (body, left hand, right hand, face) one colour from the
  one number per part the per-sample table already shows. It takes no GT argument: nothing of the GT geometry can
  be in the picture, so it reveals nothing the table does not.
- ``render_vertex_errors``: the prediction coloured by each vertex's distance to GT, above the GT as a grey mesh.
  Per-vertex distances of three crafted submissions would trilaterate every GT vertex: public-GT splits only.

Colours run blue (0 mm) → yellow → red (``SCALE_MM`` and beyond), the same scale on every picture.
"""
from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .image_benchmark import AMBIENT, splat
from .render_scale import NO_VALUE, PART_METRICS, RAMP, SCALE_MM, error_colours  # noqa: F401 (re-exported)

DRAW_H, DRAW_W, UPSCALE = 128, 96, 2  # one view drawn, then shown 2x: a picture is 2 views wide, 1 or 2 rows high
FILL = 0.9  # fraction of the panel height (or width) the larger extent of the meshes covers
BACKGROUND = np.array([250, 250, 250], dtype=np.uint8)
GT_GREY = np.array([170, 170, 170], dtype=np.float64)
SIDE = np.array([[0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # a quarter turn about camera y


FACE = 3


def part_ids(num_vertices: int, left_hand: np.ndarray, right_hand: np.ndarray, face: np.ndarray) -> np.ndarray:
    """(V,) part of each vertex: 0 body, 1 left hand, 2 right hand, 3 face (evaluator.parts' vertex sets)."""
    ids = np.zeros(num_vertices, dtype=np.int64)
    for part, members in ((1, left_hand), (2, right_hand), (FACE, face)):
        ids[np.asarray(members, dtype=np.int64)] = part
    return ids


def part_error_colours(ids: np.ndarray, part_values_mm: Sequence[float | None]) -> np.ndarray:
    """(V, 3) colours: every vertex of a part the colour of that part's one value (``PART_METRICS`` order)."""
    values = np.array([np.nan if v is None else float(v) for v in part_values_mm], dtype=np.float64)
    return error_colours(values)[ids]


def vertex_errors(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(V,) mm distance of each predicted vertex to its GT vertex (both pelvis-aligned, in metres)."""
    return np.linalg.norm(np.asarray(pred, np.float64) - np.asarray(gt, np.float64), axis=-1) * 1000.0


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals (``image_benchmark.vertex_shading``'s, in NumPy, once per mesh: a
    turned view turns them with the mesh)."""
    v0, v1, v2 = (vertices[faces[:, k]] for k in range(3))
    face_normals = np.cross(v1 - v0, v2 - v0)
    flat = faces.ravel()
    normals = np.stack([np.bincount(flat, np.repeat(face_normals[:, c], 3), len(vertices)) for c in range(3)], 1)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


def _views(meshes: list[np.ndarray], colours: list[np.ndarray], faces: np.ndarray, ids: np.ndarray) -> list[np.ndarray]:
    """One row per mesh of [front, side] panels, all on one orthographic scale and centre, head up: a prediction
    whose face lies below its pelvis (y down) turns half about the view axis, every mesh with it."""
    if np.any(ids == FACE) and meshes[0][ids == FACE, 1].mean() > 0:
        meshes = [mesh * [-1.0, -1.0, 1.0] for mesh in meshes]
    both = np.concatenate(meshes)
    normals = [vertex_normals(mesh, faces) for mesh in meshes]
    rows: list[list[np.ndarray]] = [[] for _ in meshes]
    for rotation in (np.eye(3), SIDE):
        points = both @ rotation.T
        lo, hi = points.min(0), points.max(0)
        scale = FILL * min(DRAW_H / max(hi[1] - lo[1], 1e-6), DRAW_W / max(hi[0] - lo[0], 1e-6))
        centre = (lo + hi) / 2
        for row, (mesh, colour, normal) in enumerate(zip(meshes, colours, normals)):
            view = mesh @ rotation.T
            # Two-sided Lambert, light at the (orthographic) camera, as image_benchmark.vertex_shading.
            shade = AMBIENT + (1 - AMBIENT) * np.abs(normal @ rotation[2])
            uv = (view[:, :2] - centre[:2]) * scale + [DRAW_W / 2, DRAW_H / 2]
            lit = np.clip(np.rint(colour * shade[:, None]), 0, 255).astype(np.uint8)
            panel = splat(uv, view[:, 2], lit, np.broadcast_to(BACKGROUND, (DRAW_H, DRAW_W, 3)))
            rows[row].append(panel.repeat(UPSCALE, 0).repeat(UPSCALE, 1))  # splats of one pixel's radius, no holes
    return [np.concatenate(panels, axis=1) for panels in rows]


def png_bytes(image: np.ndarray) -> bytes:
    """PNG without any time or text chunk: the same pixels give the same bytes."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8), "RGB").save(buffer, "PNG", compress_level=6)
    return buffer.getvalue()


def render_part_errors(pred: np.ndarray, faces: np.ndarray, ids: np.ndarray,
                       part_values_mm: Sequence[float | None]) -> bytes:
    """The prediction (V, 3, pelvis-aligned, metres) front and side, each part coloured by its value."""
    (row,) = _views([np.asarray(pred, np.float64)], [part_error_colours(ids, part_values_mm)], faces, ids)
    return png_bytes(row)


def render_vertex_errors(pred: np.ndarray, gt: np.ndarray, faces: np.ndarray, ids: np.ndarray) -> bytes:
    """The prediction coloured by per-vertex error above the GT in grey (both pelvis-aligned): public GT only."""
    pred, gt = np.asarray(pred, np.float64), np.asarray(gt, np.float64)
    grey = np.broadcast_to(GT_GREY, gt.shape)
    rows = _views([pred, gt], [error_colours(vertex_errors(pred, gt)), grey], faces, ids)
    return png_bytes(np.concatenate(rows, axis=0))


def pelvis_aligned(body_model, samples, index: np.ndarray) -> np.ndarray:
    """(B, V, 3) float64 metres: SMPL-X meshes of rows ``index`` of ``samples`` minus their regressed pelvis, the
    alignment of the vertex metrics (evaluator.metrics)."""
    import torch

    from .meshes import smplx_meshes

    with torch.inference_mode():
        return _minus_pelvis(body_model.assets, smplx_meshes(body_model, samples, np.asarray(index, dtype=np.int64)))


def align_to_pelvis(assets, vertices: np.ndarray) -> np.ndarray:
    """``pelvis_aligned`` for absolute vertices (B, V, 3) in metres (``BodyModel.assets``)."""
    import torch

    from .meshes import from_vertices

    with torch.inference_mode():
        return _minus_pelvis(assets, from_vertices(np.asarray(vertices, np.float64), assets.anchor_vertex))


def _minus_pelvis(assets, meshes) -> np.ndarray:
    from .parts import ROW_PELVIS

    pelvis = assets.regress_absolute(meshes)[:, ROW_PELVIS: ROW_PELVIS + 1]
    return (meshes.absolute() - pelvis).cpu().numpy()
