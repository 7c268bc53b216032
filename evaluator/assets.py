"""On-disk layout of the SMPL-X model directory and loaders for the evaluation part files.

Layout (the same as SMPLer-X's ``human_model_files``; ``MODEL_DIR`` is what you pass around)::

    MODEL_DIR/smplx/SMPLX_NEUTRAL.npz           read by smplx.create(MODEL_DIR, 'smplx', ext='npz')
    MODEL_DIR/smplx/SMPLX_MALE.npz, SMPLX_FEMALE.npz   (optional for evaluation)
    MODEL_DIR/smplx/MANO_SMPLX_vertex_ids.npz   keys left_hand, right_hand (778 ids each)
                    or MANO_SMPLX_vertex_ids.pkl  (real file: pickled dict with the same keys)
    MODEL_DIR/smplx/SMPL-X__FLAME_vertex_ids.npy  (5023 face vertex ids)
    MODEL_DIR/smplx/SMPLX_to_J14.npz            key J14_regressor (14, 10475)
                    or SMPLX_to_J14.pkl           (real file: pickled ndarray)

The ``.pkl`` files are trusted operator files (the real SMPL-X downloads); ``.npz`` equivalents
are preferred when both exist. User data is never unpickled anywhere.
"""
from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .skeleton import NUM_VERTICES

SMPLX_SUBDIR = "smplx"
HAND_IDS_NPZ = "MANO_SMPLX_vertex_ids.npz"
HAND_IDS_PKL = "MANO_SMPLX_vertex_ids.pkl"
FACE_IDS_NPY = "SMPL-X__FLAME_vertex_ids.npy"
J14_NPZ = "SMPLX_to_J14.npz"
J14_PKL = "SMPLX_to_J14.pkl"
J14_KEY = "J14_regressor"
DEFAULT_MODEL_DIR = "var/smplx_synthetic"


class ModelFilesError(FileNotFoundError):
    """The SMPL-X model directory is missing or incomplete."""


def default_model_dir() -> Path:
    """``$SMPLX_MODEL_DIR`` or ``var/smplx_synthetic`` (relative to the working directory)."""
    return Path(os.environ.get("SMPLX_MODEL_DIR") or DEFAULT_MODEL_DIR)


def resolve_model_dir(model_dir: str | os.PathLike) -> Path:
    """Accept either MODEL_DIR or MODEL_DIR/smplx; return MODEL_DIR (absolute)."""
    path = Path(model_dir).expanduser().resolve()
    if (path / "SMPLX_NEUTRAL.npz").is_file() and not (path / SMPLX_SUBDIR).is_dir():
        path = path.parent
    if not (path / SMPLX_SUBDIR / "SMPLX_NEUTRAL.npz").is_file():
        raise ModelFilesError(
            f"No SMPL-X model in {path}: expected {path / SMPLX_SUBDIR / 'SMPLX_NEUTRAL.npz'} "
            "(generate one with `python -m evaluator make-synthetic-model --out DIR`)"
        )
    return path


@dataclass(frozen=True)
class PartFiles:
    """Vertex subsets and the J14 regressor used by the metrics (numpy, float64 regressor)."""

    left_hand: np.ndarray  # (778,) int64
    right_hand: np.ndarray  # (778,) int64
    face: np.ndarray  # (5023,) int64
    j14_regressor: np.ndarray  # (14, 10475) float64


def _load_trusted_pickle(path: Path):
    with open(path, "rb") as f:  # operator-provided SMPL-X asset, never user data
        return pickle.load(f, encoding="latin1")


def _vertex_ids(values, what: str, path: Path) -> np.ndarray:
    ids = np.asarray(values).reshape(-1).astype(np.int64)
    if ids.size == 0 or ids.min() < 0 or ids.max() >= NUM_VERTICES:
        raise ModelFilesError(f"{path}: {what} vertex ids must lie in [0, {NUM_VERTICES})")
    return ids


def load_part_files(model_dir: str | os.PathLike) -> PartFiles:
    """Read hand/face vertex ids and the J14 regressor from MODEL_DIR/smplx."""
    d = resolve_model_dir(model_dir) / SMPLX_SUBDIR
    if (d / HAND_IDS_NPZ).is_file():
        with np.load(d / HAND_IDS_NPZ, allow_pickle=False) as z:
            hands, hands_path = {k: z[k] for k in ("left_hand", "right_hand")}, d / HAND_IDS_NPZ
    elif (d / HAND_IDS_PKL).is_file():
        hands, hands_path = _load_trusted_pickle(d / HAND_IDS_PKL), d / HAND_IDS_PKL
    else:
        raise ModelFilesError(f"Missing {d / HAND_IDS_NPZ} (or {HAND_IDS_PKL})")
    if not (d / FACE_IDS_NPY).is_file():
        raise ModelFilesError(f"Missing {d / FACE_IDS_NPY}")
    face = np.load(d / FACE_IDS_NPY, allow_pickle=False)
    if (d / J14_NPZ).is_file():
        with np.load(d / J14_NPZ, allow_pickle=False) as z:
            j14, j14_path = z[J14_KEY], d / J14_NPZ
    elif (d / J14_PKL).is_file():
        j14, j14_path = _load_trusted_pickle(d / J14_PKL), d / J14_PKL
    else:
        raise ModelFilesError(f"Missing {d / J14_NPZ} (or {J14_PKL})")
    j14 = np.asarray(j14, dtype=np.float64)
    if j14.shape != (14, NUM_VERTICES):
        raise ModelFilesError(f"{j14_path}: J14 regressor shape {j14.shape}, expected (14, {NUM_VERTICES})")
    return PartFiles(
        left_hand=_vertex_ids(hands["left_hand"], "left_hand", hands_path),
        right_hand=_vertex_ids(hands["right_hand"], "right_hand", hands_path),
        face=_vertex_ids(face, "face", d / FACE_IDS_NPY),
        j14_regressor=j14,
    )
