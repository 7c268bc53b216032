"""Failure renders (issue 22 §4, evaluator.render): deterministic bytes, the largest error where it is, and the
trilateration argument for what a picture on a split with secret GT may show."""
from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
import torch
from PIL import Image

from evaluator import render
from evaluator.body_model import load_body_model
from evaluator.image_benchmark import sample_params
from evaluator.metric_names import METRICS
from evaluator.metrics import compute_metrics
from evaluator.parts import ROW_PELVIS
from evaluator.smplx_params import PARAM_SIZES, REQUIRED_PARAMS


@pytest.fixture(scope="module")
def body(smplx_model_dir):
    return load_body_model(smplx_model_dir, "cpu")


@pytest.fixture(scope="module")
def scene(body):
    """A posed GT body (camera frame, y down), its part ids and faces."""
    params = sample_params(1, np.random.default_rng(3))
    params["transl"] = np.array([[0.0, 0.0, 3.0]])
    gt = body.vertices({k: np.asarray(v, np.float32) for k, v in params.items()}).double().numpy()
    ids = render.part_ids(gt.shape[1], *(getattr(body.assets, k).numpy() for k in ("left_hand", "right_hand", "face")))
    return gt[0], ids, body.layer.faces_tensor.numpy()


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(np.int64)


def reddish(image: np.ndarray) -> np.ndarray:
    """Pixels of the top of the colour scale (any shade): red well above green and blue."""
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    return (r > 2.5 * g) & (r > 2.5 * b) & (r > 50)


def test_pictures_are_the_same_bytes_each_time_with_no_time_or_text_chunk(body, scene):
    gt, ids, faces = scene
    aligned = render.align_to_pelvis(body.assets, gt[None])[0]
    pred = aligned + np.random.default_rng(0).normal(0, 0.01, aligned.shape)
    first = render.render_vertex_errors(pred, aligned, faces, ids)
    assert first == render.render_vertex_errors(pred.copy(), aligned.copy(), faces, ids)
    parts = render.render_part_errors(pred, faces, ids, [30.0, 60.0, None, 250.0])
    assert parts == render.render_part_errors(pred.copy(), faces, ids, [30.0, 60.0, None, 250.0])
    for png in (first, parts):
        assert png.startswith(b"\x89PNG") and b"tIME" not in png and b"tEXt" not in png and b"iTXt" not in png
    assert pixels(first).shape == (2 * render.DRAW_H * render.UPSCALE, 2 * render.DRAW_W * render.UPSCALE, 3)
    assert pixels(parts).shape == (render.DRAW_H * render.UPSCALE, 2 * render.DRAW_W * render.UPSCALE, 3)


def test_the_displaced_region_is_coloured_as_the_largest_error(body, scene):
    """The right hand moved 30 cm towards the camera: in the front view exactly its pixels take the top colour (the
    front view of the moved hand covers the same pixels, so a part render marking only that hand is the reference)."""
    gt, ids, faces = scene
    aligned = render.align_to_pelvis(body.assets, gt[None])[0]
    pred = aligned.copy()
    pred[ids == 2, 2] -= 0.3
    errors = render.vertex_errors(pred, aligned)
    assert set(np.flatnonzero(errors > 1.0)) == set(np.flatnonzero(ids == 2))
    front = (slice(0, render.DRAW_H * render.UPSCALE), slice(0, render.DRAW_W * render.UPSCALE))
    red = reddish(pixels(render.render_vertex_errors(pred, aligned, faces, ids))[front])
    hand_only = reddish(pixels(render.render_part_errors(pred, faces, ids, [0.0, 0.0, 400.0, 0.0]))[front])
    assert hand_only.sum() > 100
    assert (red & hand_only).sum() / (red | hand_only).sum() > 0.9
    # the GT row (grey) and a render without the displacement have no top colour at all
    assert not reddish(pixels(render.render_vertex_errors(aligned, aligned, faces, ids))).any()


def test_a_part_render_has_one_colour_per_part_and_no_gt_input():
    ids = np.array([0, 0, 1, 2, 3, 3])
    colours = render.part_error_colours(ids, [10.0, 150.0, None, 400.0])
    assert len({tuple(c) for c in colours}) == 4
    np.testing.assert_array_equal(colours[3], render.NO_VALUE)  # the right hand has no value: neutral grey
    np.testing.assert_array_equal(colours[4], render.RAMP[-1])  # beyond the scale: the top colour


# --- trilateration: three crafted submissions -------------------------------------------------------------------


def crafted_submissions(body, template: np.ndarray) -> np.ndarray:
    """Three attacker meshes, pelvis-aligned as every picture is: a known template with every vertex outside the
    pelvis regressor's support moved by a different offset (moving the support too would move the pelvis and
    cancel the offset in the alignment), 3 m off the body so each vertex's GT lies on one known side."""
    support = (body.assets.regressor[ROW_PELVIS] != 0).numpy()
    offsets = np.array([[0.0, 0.0, -3.0], [1.0, 0.0, -3.0], [0.0, 1.0, -3.0]])
    meshes = np.repeat(template[None], 3, axis=0)
    meshes[:, ~support] += offsets[:, None, :]
    return render.align_to_pelvis(body.assets, meshes)


def trilaterate(centres: np.ndarray, radii: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """Per vertex, the point at distances ``radii`` (3, V) from ``centres`` (3, V, 3): of the two mirror solutions,
    the one nearer ``prior`` (V, 3)."""
    p1, p2, p3 = centres
    r1, r2, r3 = radii
    ex = (p2 - p1) / np.linalg.norm(p2 - p1, axis=1, keepdims=True)
    i = np.sum(ex * (p3 - p1), axis=1)
    ey = p3 - p1 - i[:, None] * ex
    ey /= np.linalg.norm(ey, axis=1, keepdims=True)
    ez = np.cross(ex, ey)
    d = np.linalg.norm(p2 - p1, axis=1)
    j = np.sum(ey * (p3 - p1), axis=1)
    x = (r1 ** 2 - r2 ** 2 + d ** 2) / (2 * d)
    y = (r1 ** 2 - r3 ** 2 + i ** 2 + j ** 2) / (2 * j) - i / j * x
    z = np.sqrt(np.maximum(r1 ** 2 - x ** 2 - y ** 2, 0.0))
    base = p1 + x[:, None] * ex + y[:, None] * ey
    up, down = base + z[:, None] * ez, base - z[:, None] * ez
    nearer = np.linalg.norm(up - prior, axis=1) < np.linalg.norm(down - prior, axis=1)
    return np.where(nearer[:, None], up, down)


SHIFT_M = 0.03


def test_trilateration_per_vertex_errors_would_give_gt_away_part_values_do_not(body, scene):
    gt, ids, faces = scene
    truth = render.align_to_pelvis(body.assets, gt[None])[0]
    rest = {k: np.zeros((1, n), np.float32) for k, n in PARAM_SIZES.items() if k in REQUIRED_PARAMS}
    rest["global_orient"][0, 0] = np.pi  # upright in the camera frame (y down)
    template = body.vertices(rest).double().numpy()[0]  # public: the rest pose, known to anyone
    attack = crafted_submissions(body, template)
    prior = render.align_to_pelvis(body.assets, template[None])[0]
    moved = np.linalg.norm(attack[0] - prior, axis=1) > 1.0  # all but the pelvis support (8 vertices here)
    assert moved.mean() > 0.99

    # 1. What a public-GT picture encodes, per-vertex distances, trilaterates every moved GT vertex.
    distances = np.stack([render.vertex_errors(q, truth) / 1000.0 for q in attack])
    recovered = trilaterate(attack, distances, prior)
    assert np.abs(recovered - truth)[moved].max() < 1e-6  # metres: exact up to rounding

    # 2. What a picture on a secret-GT split encodes: the per-sample table's values (every metric, a superset of
    # the part colours). 3 x 15 numbers for 31,425 unknowns: a GT moved 30 mm per vertex along the equations'
    # null space, then pulled back onto them, shows exactly the same values and the same pictures.
    attack_t = torch.as_tensor(attack)
    assets = dataclasses.replace(body.assets, regressor=body.assets.regressor.double(),
                                 compact=body.assets.compact.double())  # float64 throughout: Newton needs the bits

    def shown(flat: torch.Tensor) -> torch.Tensor:
        return torch.cat(list(compute_metrics(attack_t, flat.reshape(1, -1, 3).expand(3, -1, -1), assets).values()))

    start = torch.as_tensor(truth.reshape(-1))
    target = shown(start)
    jac = torch.autograd.functional.jacobian(shown, start, vectorize=True)  # (45, 3V)
    assert jac.shape[0] == 45 and torch.linalg.matrix_rank(jac) <= 45 < jac.shape[1]
    # A smooth displacement field (a body bent, not per-vertex noise), its part along the equations' rows taken out.
    coords = torch.as_tensor(truth)
    field = torch.stack([torch.sin(7 * coords[:, 1]), torch.cos(5 * coords[:, 0]), torch.sin(6 * coords[:, 1] + 1)], 1)
    direction = field.reshape(-1)
    pinv = torch.linalg.pinv(jac, rtol=1e-9)
    direction -= pinv @ (jac @ direction)
    other = start + direction * (SHIFT_M / direction.reshape(-1, 3).norm(dim=1).mean())
    for _ in range(10):  # back onto the same values, with the same Jacobian (chord Newton)
        other = other - pinv @ (shown(other) - target)
    assert (shown(other) - target).abs().max() < 1e-3  # mm: every shown value the same
    other_mesh = other.reshape(-1, 3).numpy()
    assert np.linalg.norm(other_mesh - truth, axis=1).mean() > 0.025  # yet 25+ mm away on average
    # so the pictures of the three submissions are the same bytes for both GTs: no attack can tell them apart
    for k, mesh in enumerate(attack):
        pictures = [render.render_part_errors(mesh, faces, ids, [float(values[3 * METRICS.index(m) + k])
                                                                 for m in render.PART_METRICS])
                    for values in (target, shown(other))]
        assert pictures[0] == pictures[1]
