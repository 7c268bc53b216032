"""Deterministic synthetic SMPL model (6,890 vertices, 24 joints, the real SMPL kinematic tree) and
a synthetic ``smplx2smpl`` mapping, derived from the synthetic SMPL-X model so the two agree.

SMPL joints 0-21 are SMPL-X joints 0-21 (same names, same tree); SMPL 22/23 ("left_hand",
"right_hand") hang off the wrists where SMPL-X has its fingers. Each SMPL vertex is a fixed
combination of SMPL-X vertices (the ``smplx2smpl`` rows): one-hot for the vertices the joint
regressor uses, 0.8/0.1/0.1 over a vertex and two same-part neighbours elsewhere (the real file
is barycentric, three weights per row). The template and shape directions are the SMPL-X ones
mapped through it, so ``smplx2smpl @ SMPLX(betas)`` equals ``SMPL(betas)`` in the rest pose.
Files (under ``MODEL_DIR/smpl``): ``SMPL_{NEUTRAL,MALE,FEMALE}.npz`` (the keys smplx's SMPL layer
reads) and ``smplx2smpl.npz`` (``indices``/``weights``, (6890, 3) each).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .smpl_params import NUM_SMPL_JOINTS, NUM_SMPL_VERTICES

SMPL_SUBDIR = "smpl"
SMPLX2SMPL_NPZ = "smplx2smpl.npz"
NUM_SMPL_FACES = 13776
SMPL_PARENTS = np.array([-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21])
_HAND_JOINT_SOURCE = {22: 28, 23: 43}  # SMPL hand joint <- SMPL-X middle-finger base (ring of 8 vertices)


def smpl_joint_of_smplx(j: np.ndarray) -> np.ndarray:
    """SMPL joint owning SMPL-X joint ``j``'s vertices: body 0-21 the same, jaw/eyes -> head,
    left fingers -> 22, right fingers -> 23."""
    j = np.asarray(j)
    return np.select([j < 22, j <= 24, j < 40], [j, 15, 22], 23)


def _pick(owner: np.ndarray, ring: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    must = np.flatnonzero(ring & (np.isin(owner, np.arange(22)) | np.isin(owner, list(_HAND_JOINT_SOURCE.values()))))
    rest = np.setdiff1d(np.arange(len(owner)), must)
    extra = rng.choice(rest, NUM_SMPL_VERTICES - len(must), replace=False)
    return np.sort(np.concatenate([must, extra]))


def _mapping(pick: np.ndarray, owner: np.ndarray, ring: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(indices, weights) of shape (6890, 3): SMPL vertex i = sum_k weights[i,k] * smplx[indices[i,k]]."""
    idx = np.repeat(pick[:, None], 3, axis=1)
    w = np.tile([1.0, 0.0, 0.0], (len(pick), 1))
    for j in np.unique(owner):
        same = np.flatnonzero(owner == j)
        rows = np.flatnonzero((owner[pick] == j) & ~ring[pick])
        if len(same) < 3 or not len(rows):
            continue
        d = np.linalg.norm(pos[pick[rows]][:, None] - pos[same][None], axis=-1)
        d[np.arange(len(rows)), np.searchsorted(same, pick[rows])] = np.inf  # not itself
        near = same[np.argsort(d, axis=1)[:, :2]]
        idx[rows, 1:] = near
        w[rows] = (0.8, 0.1, 0.1)
    return idx, w


def _apply(idx: np.ndarray, w: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Mapping applied to a per-vertex array x (10475, ...)."""
    return np.einsum("ik,ik...->i...", w, x[idx])


def _faces(pick: np.ndarray, smplx_faces: np.ndarray) -> np.ndarray:
    lookup = np.full(int(max(pick.max(), smplx_faces.max())) + 1, -1)
    lookup[pick] = np.arange(len(pick))
    mapped = lookup[smplx_faces]
    faces = mapped[(mapped >= 0).all(1)]
    step = 1
    while len(faces) < NUM_SMPL_FACES:  # strip triangles over nearby vertex ids fill the rest
        n = np.arange(NUM_SMPL_VERTICES - 2 * step)
        faces = np.concatenate([faces, np.stack([n, n + step, n + 2 * step], 1)])
        step += 1
    return faces[:NUM_SMPL_FACES].astype(np.uint32)


def write_synthetic_smpl(out_dir: Path, smplx_arrays: dict[str, dict[str, np.ndarray]], owner: np.ndarray,
                         ring: np.ndarray, rest_pos: np.ndarray, seed: int) -> Path:
    """Write ``out_dir/smpl`` from the synthetic SMPL-X arrays per gender ({"NEUTRAL": arrays, ...})."""
    d = Path(out_dir) / SMPL_SUBDIR
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, 101])
    pick = _pick(owner, ring, rng)
    idx, w = _mapping(pick, owner, ring, rest_pos)
    for gender, arrays in smplx_arrays.items():
        Wx = arrays["weights"].astype(np.float64)
        W = np.zeros((NUM_SMPL_VERTICES, NUM_SMPL_JOINTS))
        np.add.at(W.T, smpl_joint_of_smplx(np.arange(Wx.shape[1])), _apply(idx, w, Wx).T)
        Jx = arrays["J_regressor"].astype(np.float64)
        J = np.zeros((NUM_SMPL_JOINTS, NUM_SMPL_VERTICES))
        for j in range(NUM_SMPL_JOINTS):
            src = _HAND_JOINT_SOURCE.get(j, j)
            J[j] = Jx[src, pick] * (w[:, 0] == 1.0)  # regressor vertices are one-hot rows
            J[j] /= J[j].sum()
        posedirs_x = arrays["posedirs"].astype(np.float64).reshape(len(owner), 3, -1, 9)
        posedirs = np.zeros((NUM_SMPL_VERTICES, 3, NUM_SMPL_JOINTS - 1, 9))
        posedirs[:, :, :21] = _apply(idx, w, posedirs_x[:, :, :21])
        posedirs[:, :, 21:] = 0.0
        kintree = np.stack([SMPL_PARENTS, np.arange(NUM_SMPL_JOINTS)]).astype(np.int64)
        kintree[0, 0] = np.iinfo(np.uint32).max
        smpl = {
            "v_template": _apply(idx, w, arrays["v_template"].astype(np.float64)),
            "f": _faces(pick, arrays["f"]),
            "shapedirs": _apply(idx, w, arrays["shapedirs"][:, :, :10].astype(np.float64)),
            "posedirs": posedirs.reshape(NUM_SMPL_VERTICES, 3, -1),
            "J_regressor": J,
            "weights": W / W.sum(1, keepdims=True),
            "kintree_table": kintree.astype(np.uint32),
        }
        smpl = {k: (v.astype(np.float32) if v.dtype == np.float64 else v) for k, v in smpl.items()}
        _save(d / f"SMPL_{gender}.npz", **smpl)
    _save(d / SMPLX2SMPL_NPZ, indices=idx.astype(np.int64), weights=w.astype(np.float32))
    return d


def _save(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
