"""SMPL body models (3DPW ground truth) through ``smplx``, the smplx2smpl mapping, SMPL meshes.

Layout (as SMPLer-X / SMPLest-X ``human_model_files``)::

    MODEL_DIR/smpl/SMPL_{NEUTRAL,MALE,FEMALE}.npz   arrays smplx's SMPL layer reads (synthetic ones:
                   or SMPL_*.pkl                      ``python -m evaluator make-synthetic-model``)
    MODEL_DIR/smpl/smplx2smpl.npz                   indices, weights (6890, k): sparse rows
                   or MODEL_DIR/smplx2smpl.pkl        the real file: {'matrix': (6890, 10475)}

``.pkl`` files are trusted operator files (the licensed downloads) and are unpickled by smplx or
here; ``.npz`` wins when both exist. Only the NEUTRAL model is required; a sample whose GT gender
has no model file is an error naming the file.
"""
from __future__ import annotations

import contextlib
import io
import os
import pickle
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import smplx
import torch
from torch import Tensor

from .formats import VERTICES, SampleSet
from .meshes import Meshes, from_vertices
from .smpl_params import NUM_SMPL_JOINTS, NUM_SMPL_VERTICES, SMPL_GENDERS
from .skeleton import NUM_VERTICES as NUM_SMPLX_VERTICES

SMPL_SUBDIR = "smpl"
SMPLX2SMPL_NPZ, SMPLX2SMPL_PKL = "smplx2smpl.npz", "smplx2smpl.pkl"


class SmplFilesError(FileNotFoundError):
    """The SMPL model folder or the smplx2smpl mapping is missing or malformed."""


class Regressor(NamedTuple):
    """A dense (R, V) linear map stored compactly over the vertices it uses, with float64 row sums
    (so that joints of local + origin meshes are exact: J (l + o) = J l + rowsum * o)."""

    columns: Tensor  # (C,) long
    compact: Tensor  # (R, C) model dtype
    row_sums: Tensor  # (R,) float64

    @classmethod
    def from_dense(cls, matrix: np.ndarray | Tensor, device, dtype) -> "Regressor":
        m = np.asarray(matrix.detach().cpu().double().numpy() if isinstance(matrix, Tensor) else matrix, np.float64)
        cols = np.flatnonzero(np.any(m != 0, axis=0))
        compact = torch.as_tensor(m[:, cols], dtype=dtype, device=device)
        return cls(torch.as_tensor(cols, device=device), compact, compact.double().sum(1))

    def local(self, vertices: Tensor) -> Tensor:
        """(B, V, 3) -> (B, R, 3) in the vertices' dtype."""
        return torch.einsum("rc,bcd->brd", self.compact, vertices.index_select(1, self.columns))

    def absolute(self, meshes: Meshes) -> Tensor:
        """(B, R, 3) float64 joints of ``meshes.absolute()``."""
        return self.local(meshes.local).double() + self.row_sums[None, :, None] * meshes.origin

    def select(self, rows) -> "Regressor":
        rows = torch.as_tensor(rows, device=self.compact.device)
        return Regressor(self.columns, self.compact.index_select(0, rows), self.row_sums.index_select(0, rows))


class SparseRows(NamedTuple):
    """A (R, V) map with k nonzeros per row, e.g. smplx2smpl (6890 rows, barycentric)."""

    indices: Tensor  # (R, k) long
    weights: Tensor  # (R, k) model dtype
    row_sums: Tensor  # (R,) float64

    def apply(self, meshes: Meshes) -> Meshes:
        """Meshes of map @ absolute: map @ (l + o) = map @ l + rowsum * o; the small
        (rowsum - 1) * o remainder is folded into the local part."""
        gathered = meshes.local[:, self.indices]  # (B, R, k, 3)
        local = torch.einsum("rk,brkd->brd", self.weights, gathered)
        local = local + ((self.row_sums[None, :, None] - 1.0) * meshes.origin).to(local.dtype)
        return Meshes(local, meshes.origin)


@dataclass(frozen=True)
class SmplModels:
    """Gendered SMPL layers, the 24-joint regressor (neutral model's, as SMPLer-X's
    ``smpl.joint_regressor``) and the smplx2smpl mapping, on one device."""

    model_dir: Path
    layers: dict[str, smplx.SMPL]
    joint_regressor: Regressor  # (24, 6890)
    anchor_vertex: int  # vertex nearest the pelvis regressor (local coordinates of vertex GT)
    smplx2smpl: SparseRows | None
    device: torch.device
    dtype: torch.dtype

    def require_mapping(self) -> SparseRows:
        if self.smplx2smpl is None:
            raise SmplFilesError(f"No smplx2smpl mapping in {self.model_dir / SMPL_SUBDIR} (needed by the "
                                 f"SMPLest-X 3DPW variant): expected {SMPLX2SMPL_NPZ} or {SMPLX2SMPL_PKL}")
        return self.smplx2smpl


def _smpl_dir(model_dir: str | os.PathLike) -> Path:
    root = Path(model_dir).expanduser().resolve()
    if root.name == SMPL_SUBDIR and not (root / SMPL_SUBDIR).is_dir():
        root = root.parent
    return root


def _load_layer(d: Path, gender: str, device, dtype) -> smplx.SMPL | None:
    npz, pkl = d / f"SMPL_{gender.upper()}.npz", d / f"SMPL_{gender.upper()}.pkl"
    common = dict(gender=gender, num_betas=10, dtype=dtype)
    quiet = contextlib.redirect_stdout(io.StringIO())  # smplx prints a warning for 10-beta SMPL files
    if npz.is_file():
        with np.load(npz, allow_pickle=False) as z:
            struct = smplx.utils.Struct(**{k: z[k] for k in z.files})
        with quiet:
            layer = smplx.SMPL(str(npz), data_struct=struct, **common)
    elif pkl.is_file():  # the licensed file: a trusted operator file, unpickled by smplx
        with quiet:
            layer = smplx.SMPL(str(pkl), **common)
    else:
        return None
    if layer.get_num_verts() != NUM_SMPL_VERTICES or layer.J_regressor.shape[0] != NUM_SMPL_JOINTS:
        raise SmplFilesError(f"{npz if npz.is_file() else pkl}: expected {NUM_SMPL_VERTICES} vertices and "
                             f"{NUM_SMPL_JOINTS} joints")
    return layer.to(device).requires_grad_(False)


def _load_mapping(root: Path, device, dtype) -> SparseRows | None:
    d = root / SMPL_SUBDIR
    if (d / SMPLX2SMPL_NPZ).is_file():
        with np.load(d / SMPLX2SMPL_NPZ, allow_pickle=False) as z:
            idx, w = np.asarray(z["indices"], np.int64), np.asarray(z["weights"], np.float64)
    else:
        pkl = next((p for p in (d / SMPLX2SMPL_PKL, root / SMPLX2SMPL_PKL) if p.is_file()), None)
        if pkl is None:
            return None
        with open(pkl, "rb") as f:  # trusted operator file (SMPLest-X's human_model_files)
            dense = np.asarray(pickle.load(f, encoding="latin1")["matrix"], np.float64)
        k = int((dense != 0).sum(1).max())
        idx = np.argsort(-np.abs(dense), axis=1, kind="stable")[:, :k]
        w = np.take_along_axis(dense, idx, 1)
    if idx.shape != w.shape or idx.shape[0] != NUM_SMPL_VERTICES or idx.min() < 0 or idx.max() >= NUM_SMPLX_VERTICES:
        raise SmplFilesError(f"smplx2smpl mapping in {root}: expected ({NUM_SMPL_VERTICES}, k) indices into "
                             f"{NUM_SMPLX_VERTICES} SMPL-X vertices")
    weights = torch.as_tensor(w, dtype=dtype, device=device)
    return SparseRows(torch.as_tensor(idx, device=device), weights, weights.double().sum(1))


_CACHE: dict[tuple, SmplModels] = {}
_LOCK = threading.Lock()


def load_smpl_models(model_dir: str | os.PathLike, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32) -> SmplModels:
    """Load (once per process) the SMPL layers found in MODEL_DIR/smpl and the smplx2smpl mapping."""
    root = _smpl_dir(model_dir)
    dev = torch.device(device)
    key = (str(root), str(dev), dtype)
    with _LOCK:
        if key not in _CACHE:
            d = root / SMPL_SUBDIR
            layers = {g: layer for g in SMPL_GENDERS if (layer := _load_layer(d, g, dev, dtype)) is not None}
            if "neutral" not in layers:
                raise SmplFilesError(f"No SMPL model in {d}: expected SMPL_NEUTRAL.npz (or .pkl); generate a "
                                     "synthetic one with `python -m evaluator make-synthetic-model --out DIR`")
            J = layers["neutral"].J_regressor
            _CACHE[key] = SmplModels(root, layers, Regressor.from_dense(J, dev, dtype),
                                     int(torch.argmax(J[0]).item()), _load_mapping(root, dev, dtype), dev, dtype)
        return _CACHE[key]


def clear_smpl_model_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def smpl_meshes(models: SmplModels, samples: SampleSet, index: np.ndarray) -> Meshes:
    """SMPL meshes of rows ``index`` (GT vertices, or params through the layer of each sample's
    gender, default neutral). ``transl`` is kept apart as the float64 origin."""
    if samples.kind == "vertices":
        return from_vertices(samples.take(index, dtype=None)[VERTICES], models.anchor_vertex, models.device,
                             models.dtype)
    params = samples.take(index)
    genders = samples.meta["gender"][index] if "gender" in samples.meta else np.full(len(index), "neutral")
    local = torch.empty(len(index), NUM_SMPL_VERTICES, 3, device=models.device, dtype=models.dtype)
    for gender in np.unique(genders):
        layer = models.layers.get(str(gender))
        if layer is None:
            raise SmplFilesError(f"No SMPL_{str(gender).upper()} model in {models.model_dir / SMPL_SUBDIR} "
                                 f"for GT samples of gender {gender!r}")
        rows = np.flatnonzero(genders == gender)
        t = {k: torch.as_tensor(params[k][rows], device=models.device).reshape(len(rows), -1)
             for k in ("global_orient", "body_pose", "betas")}
        local[torch.as_tensor(rows, device=models.device)] = layer(**t, return_verts=True).vertices
    transl = torch.as_tensor(np.asarray(samples.take(index, dtype=np.float64)["transl"]), device=models.device)
    return Meshes(local, transl.reshape(-1, 1, 3))
