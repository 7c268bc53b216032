"""Deterministic synthetic SMPL-X model files with the real keys and shapes.

The real SMPL-X model cannot be redistributed, so tests, demos and CI use this stand-in. It
is a crude humanoid: every vertex belongs to one joint of the real 55-joint SMPL-X tree and
lies on a cylinder around that joint's bone (spheres for head and eyes). Vertex ids are laid
out so that the ids hard-coded in ``smplx`` and in the reference evaluators fall where they
should: fingertip ids on fingertips, nose/eyes/ears on the head, toes/heels on the feet.
Joint ``j`` is regressed from a ring of 8 vertices around it (so the rest-pose regressor
hits the joint exactly), which makes J_regressor rows sum to 1.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import assets
from .synthetic_smpl import write_synthetic_smpl
from .skeleton import (
    HEAD, JAW, LEFT_EYE, LSP14_FROM_SMPLX, NUM_FACES, NUM_JOINTS, NUM_VERTICES, PARENTS,
    REST_JOINTS, RIGHT_EYE,
)

GENERATOR_VERSION = 2  # 2: also writes the synthetic SMPL + smplx2smpl (evaluator.synthetic_smpl)
RING = 8  # vertices per joint used by the joint regressor
_SPHERES = {HEAD: 0.10, LEFT_EYE: 0.012, RIGHT_EYE: 0.012}


def _ids(*ranges: tuple[int, int]) -> np.ndarray:
    return np.concatenate([np.arange(a, b) for a, b in ranges])


LEFT_HAND_IDS = _ids((4600, 5378))
RIGHT_HAND_IDS = _ids((7330, 8108))
FACE_IDS = _ids((0, 3400), (8852, 10475))  # head + jaw + both eyeballs, 5023 ids
_REGIONS = [  # (vertex ids, joints owning them)
    (LEFT_HAND_IDS, [20, *range(25, 40)]),
    (RIGHT_HAND_IDS, [21, *range(40, 55)]),
    (_ids((9383, 9929)), [LEFT_EYE]),
    (_ids((9929, 10475)), [RIGHT_EYE]),
    (_ids((0, 3400), (8852, 9383)), [HEAD, JAW]),
    (_ids((5700, 5900), (8800, 8852)), [7, 10]),
    (_ids((8400, 8700)), [8, 11]),
]
_BODY_JOINTS = [0, 1, 2, 3, 4, 5, 6, 9, 12, 13, 14, 16, 17, 18, 19]
_MAIN_CHILD = {0: 3, 1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15, 13: 16,
               14: 17, 16: 18, 17: 19, 18: 20, 19: 21, 20: 28, 21: 43}
_RADIUS = {0: 0.13, 1: 0.08, 2: 0.08, 3: 0.12, 4: 0.055, 5: 0.055, 6: 0.12, 7: 0.04, 8: 0.04,
           9: 0.12, 10: 0.035, 11: 0.035, 12: 0.05, 13: 0.05, 14: 0.05, 16: 0.045, 17: 0.045,
           18: 0.035, 19: 0.035, 20: 0.03, 21: 0.03, JAW: 0.04}
FINGER_RADIUS, HEAD_NECK_RADIUS = 0.009, 0.05


def _bone_end(j: int) -> np.ndarray:
    p = REST_JOINTS[j]
    if j in _MAIN_CHILD:
        return REST_JOINTS[_MAIN_CHILD[j]]
    if j in (10, 11):
        return p + np.array([0.0, -0.02, 0.09])
    if j == JAW:
        return p + np.array([0.0, -0.06, 0.07])
    if j >= 25:  # finger joint: next phalanx, or the tip for the distal one
        if (j - 25) % 3 < 2:
            return REST_JOINTS[j + 1]
        return p + 0.9 * (p - REST_JOINTS[PARENTS[j]])
    raise ValueError(j)


def _sphere_center(j: int) -> np.ndarray:
    return REST_JOINTS[j] + (np.array([0.0, 0.1, 0.02]) if j == HEAD else 0.0)


def _specials() -> dict[int, tuple[int, np.ndarray]]:
    """Vertex ids that smplx / the reference evaluators hard-code -> (joint, rest position)."""
    out: dict[int, tuple[int, np.ndarray]] = {}
    tips = {"left": (5361, 4933, 5058, 5169, 5286), "right": (8079, 7669, 7794, 7905, 8022)}
    for (side, vids), first in zip(tips.items(), (25, 40)):
        # tips listed thumb, index, middle, ring, pinky; distal joints in SMPL-X order
        distal = (first + 14, first + 2, first + 5, first + 11, first + 8)
        out.update({v: (j, _bone_end(j)) for v, j in zip(vids, distal)})
    head_c, head_r = _sphere_center(HEAD), _SPHERES[HEAD]
    out[9120] = (HEAD, head_c + [0.0, -0.02, head_r])  # nose
    out[6] = (HEAD, head_c + [head_r, 0.0, 0.0])  # left ear
    out[616] = (HEAD, head_c + [-head_r, 0.0, 0.0])  # right ear
    out[9448] = (LEFT_EYE, REST_JOINTS[LEFT_EYE] + [0.0, 0.0, _SPHERES[LEFT_EYE]])
    out[9929] = (RIGHT_EYE, REST_JOINTS[RIGHT_EYE] + [0.0, 0.0, _SPHERES[RIGHT_EYE]])
    for foot, ankle, big, small, heel, sx in ((10, 7, 5770, 5780, 8846, 1.0), (11, 8, 8463, 8474, 8635, -1.0)):
        out[big] = (foot, _bone_end(foot))
        out[small] = (foot, _bone_end(foot) + [0.04 * sx, 0.0, -0.02])
        out[heel] = (ankle, REST_JOINTS[ankle] + [0.0, -0.07, -0.04])
    return out


def _basis(axis: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    axis = axis / np.linalg.norm(axis)
    helper = np.array([0.0, 0.0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
    u = np.cross(axis, helper)
    u /= np.linalg.norm(u)
    return u, np.cross(axis, u)


@dataclass
class _Layout:
    owner: np.ndarray  # (V,) joint of each vertex
    pos: np.ndarray  # (V,3) rest positions
    normal: np.ndarray  # (V,3) outward unit normals
    sort_key: np.ndarray  # (V,2) surface coordinates used to stitch triangles
    blend: np.ndarray  # (V,) share of the skinning weight given to the parent joint
    ring: np.ndarray  # (V,) bool, vertex is in its joint's regressor ring


def _split_counts(total: int, areas: np.ndarray) -> np.ndarray:
    raw = total * areas / areas.sum()
    counts = np.floor(raw).astype(int)
    counts[np.argsort(raw - counts)[::-1][: total - counts.sum()]] += 1
    return counts


def _layout(rng: np.random.Generator) -> _Layout:
    V = NUM_VERTICES
    owner = np.full(V, -1)
    pos, normal = np.zeros((V, 3)), np.zeros((V, 3))
    sort_key, blend, ring = np.zeros((V, 2)), np.zeros(V), np.zeros(V, bool)
    specials = _specials()
    taken = np.zeros(V, bool)
    for ids, _ in _REGIONS:
        taken[ids] = True
    regions = _REGIONS + [(np.flatnonzero(~taken), _BODY_JOINTS)]
    for ids, joints in regions:
        free = rng.permutation(np.setdiff1d(ids, list(specials)))
        ring_ids, rest = free[: RING * len(joints)], free[RING * len(joints):]
        areas = np.array([4 * _SPHERES[j] ** 2 if j in _SPHERES else
                          np.linalg.norm(_bone_end(j) - REST_JOINTS[j]) * _RADIUS.get(j, FINGER_RADIUS)
                          for j in joints])
        counts = _split_counts(len(rest), areas)
        for k, (j, n) in enumerate(zip(joints, counts)):
            rid = ring_ids[RING * k: RING * (k + 1)]
            vid = rest[counts[:k].sum(): counts[:k].sum() + n]
            p = REST_JOINTS[j]
            if j in _SPHERES:
                axis = np.array([0.0, 1.0, 0.0]) if j == HEAD else np.array([0.0, 0.0, 1.0])
                ring_r = HEAD_NECK_RADIUS if j == HEAD else _SPHERES[j]
                d = rng.normal(size=(n, 3))
                d /= np.linalg.norm(d, axis=1, keepdims=True)
                pos[vid], normal[vid] = _sphere_center(j) + _SPHERES[j] * d, d
                sort_key[vid] = np.stack([np.arccos(np.clip(d[:, 1], -1, 1)), np.arctan2(d[:, 2], d[:, 0])], 1)
            else:
                e = _bone_end(j)
                axis, ring_r = e - p, _RADIUS.get(j, FINGER_RADIUS)
                u, w = _basis(axis)
                t, th = rng.uniform(0, 1, n), rng.uniform(0, 2 * np.pi, n)
                radial = np.cos(th)[:, None] * u + np.sin(th)[:, None] * w
                pos[vid], normal[vid] = p + t[:, None] * axis + ring_r * radial, radial
                sort_key[vid] = np.stack([t, th], 1)
                blend[vid] = 0.5 * np.clip(1 - t / 0.25, 0, 1) if PARENTS[j] >= 0 else 0.0
            u, w = _basis(axis)
            th = 2 * np.pi * np.arange(RING) / RING
            radial = np.cos(th)[:, None] * u + np.sin(th)[:, None] * w
            pos[rid], normal[rid] = p + ring_r * radial, radial
            sort_key[rid] = np.stack([np.full(RING, -1.0), th], 1)
            blend[rid] = 0.5 if PARENTS[j] >= 0 else 0.0
            ring[rid] = True
            owner[rid], owner[vid] = j, j
    for vid, (j, p) in specials.items():
        owner[vid], pos[vid] = j, p
        n = p - (_sphere_center(j) if j in _SPHERES else REST_JOINTS[j])
        normal[vid] = n / np.linalg.norm(n)
        sort_key[vid] = (2.0, 0.0)
    assert (owner >= 0).all()
    return _Layout(owner, pos, normal, sort_key, blend, ring)


def _skinning_weights(lay: _Layout) -> np.ndarray:
    W = np.zeros((NUM_VERTICES, NUM_JOINTS))
    rows = np.arange(NUM_VERTICES)
    W[rows, lay.owner] = 1.0 - lay.blend
    has_parent = PARENTS[lay.owner] >= 0
    W[rows[has_parent], PARENTS[lay.owner[has_parent]]] += lay.blend[has_parent]
    return W


def _joint_regressor(lay: _Layout, W: np.ndarray) -> np.ndarray:
    J = np.zeros((NUM_JOINTS, NUM_VERTICES))
    J[lay.owner[lay.ring], np.flatnonzero(lay.ring)] = W[lay.ring, lay.owner[lay.ring]]
    return J / J.sum(1, keepdims=True)


def _faces(lay: _Layout) -> np.ndarray:
    """Strip triangles between neighbours in (t, angle) order within each joint's surface."""
    orders = []
    for j in range(NUM_JOINTS):
        vid = np.flatnonzero(lay.owner == j)
        orders.append(vid[np.lexsort((lay.sort_key[vid, 1], lay.sort_key[vid, 0]))])
    tris = []
    for step in range(2, 12):
        tris += [np.stack([o[:-step], o[1:1 - step], o[step:]], 1) for o in orders if len(o) > step]
        if sum(len(t) for t in tris) >= NUM_FACES:
            break
    return np.concatenate(tris)[:NUM_FACES].astype(np.uint32)


def _shape_dirs(lay: _Layout, W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    V = NUM_VERTICES
    dirs = np.zeros((V, 3, 400))
    dirs[:, 1, 0] = 0.03 * (lay.pos[:, 1] - REST_JOINTS[0, 1])  # stature
    dirs[:, :, 1] = 0.012 * lay.normal  # girth
    sigma = 0.01 / (1 + np.arange(2, 300) / 20)
    D = rng.normal(size=(NUM_JOINTS, 3, 298)) * sigma  # smooth per-joint displacements
    dirs[:, :, 2:300] = np.einsum("vj,jcd->vcd", W, D)
    face = np.isin(lay.owner, (HEAD, JAW))
    omega, phase = rng.normal(0, 8.0, (100, 3)), rng.uniform(0, 2 * np.pi, 100)
    wave = np.cos(2 * np.pi * lay.pos[face] @ omega.T + phase)  # (n_face, 100)
    dirs[face, :, 300:] = 0.003 * lay.normal[face][:, :, None] * wave[:, None, :]
    return dirs


def _pose_dirs(lay: _Layout, rng: np.random.Generator) -> np.ndarray:
    P = np.zeros((NUM_VERTICES, 3, NUM_JOINTS - 1, 9))
    vid = np.flatnonzero(lay.owner > 0)
    P[vid, :, lay.owner[vid] - 1, :] = rng.normal(0, 0.002, (len(vid), 3, 9))
    return P.reshape(NUM_VERTICES, 3, -1)


def _model_arrays(lay: _Layout, W, J, faces, scale, rng: np.random.Generator) -> dict[str, np.ndarray]:
    pelvis = REST_JOINTS[0]
    components = np.linalg.qr(rng.normal(size=(45, 45)))[0]
    mean_l = np.tile([0.0, 0.0, 0.25], 15) + rng.normal(0, 0.05, 45)  # relaxed finger flexion
    mean_r = (mean_l.reshape(15, 3) * [1.0, -1.0, -1.0]).reshape(-1)  # mirror across x = 0
    head_faces = np.flatnonzero(np.all(lay.owner[faces] == HEAD, axis=1))
    kintree = np.stack([PARENTS, np.arange(NUM_JOINTS)]).astype(np.int64)
    kintree[0, 0] = np.iinfo(np.uint32).max
    arrays = {
        "v_template": pelvis + (lay.pos - pelvis) * scale,
        "f": faces,
        "shapedirs": _shape_dirs(lay, W, rng),
        "posedirs": _pose_dirs(lay, rng),
        "J_regressor": J,
        "weights": W,
        "kintree_table": kintree.astype(np.uint32),
        "hands_componentsl": components,
        "hands_componentsr": components * np.tile([1.0, -1.0, -1.0], 15),  # mirrored axis-angle
        "hands_meanl": mean_l,
        "hands_meanr": mean_r,
        "lmk_faces_idx": rng.choice(head_faces, 51, replace=False).astype(np.int64),
        "lmk_bary_coords": rng.dirichlet(np.ones(3), 51),
        "dynamic_lmk_faces_idx": rng.choice(head_faces, (79, 17)).astype(np.int64),
        "dynamic_lmk_bary_coords": rng.dirichlet(np.ones(3), (79, 17)),
    }
    return {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in arrays.items()}


def _j14_regressor(lay: _Layout, J: np.ndarray) -> np.ndarray:
    rows = J[list(LSP14_FROM_SMPLX[:13])]
    head = np.flatnonzero((lay.owner == HEAD) & ~lay.ring)
    top = head[np.argsort(lay.pos[head, 1])[-20:]]
    head_top = np.zeros((1, NUM_VERTICES))
    head_top[0, top] = 1.0 / len(top)
    return np.concatenate([rows, head_top]).astype(np.float32)


_GENDERS = {"NEUTRAL": (1.0, 1.0, 1.0), "MALE": (1.03, 1.06, 1.03), "FEMALE": (0.97, 0.94, 0.97)}


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def make_synthetic_model(out_dir: str | os.PathLike, seed: int = 0) -> Path:
    """Write a synthetic SMPL-X model and the evaluation part files under ``out_dir/smplx``, and
    the matching synthetic SMPL model + ``smplx2smpl`` mapping under ``out_dir/smpl``
    (evaluator.synthetic_smpl).

    Returns ``out_dir`` (pass it as ``model_dir`` / ``SMPLX_MODEL_DIR``). Deterministic in ``seed``.
    """
    out = Path(out_dir)
    d = out / assets.SMPLX_SUBDIR
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    lay = _layout(rng)
    W = _skinning_weights(lay)
    J = _joint_regressor(lay, W)
    faces = _faces(lay)
    per_gender = {}
    for k, (gender, scale) in enumerate(_GENDERS.items()):
        arrays = per_gender[gender] = _model_arrays(lay, W, J, faces, np.asarray(scale), np.random.default_rng([seed, k]))
        _save_npz(d / f"SMPLX_{gender}.npz", **arrays)
    write_synthetic_smpl(out, per_gender, lay.owner, lay.ring, lay.pos, seed)
    _save_npz(d / assets.HAND_IDS_NPZ, left_hand=LEFT_HAND_IDS, right_hand=RIGHT_HAND_IDS)
    np.save(d / assets.FACE_IDS_NPY, FACE_IDS)
    _save_npz(d / assets.J14_NPZ, **{assets.J14_KEY: _j14_regressor(lay, J)})
    (d / "SYNTHETIC.json").write_text(json.dumps(
        {"generator": "evaluator.synthetic_model", "version": GENERATOR_VERSION, "seed": seed,
         "note": "Synthetic stand-in with real SMPL-X shapes; numbers are not comparable to the real model."},
        indent=2))
    return out
