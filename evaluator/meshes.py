"""Meshes as float32 local coordinates plus a float64 origin per sample, built in one place.

Camera-frame meshes sit up to tens of metres from the origin (SMPLer-X's virtual camera puts
t_z up to ~56 m); float32 coordinates there carry ~4 µm of rounding, and sums over 10^4 of them
lose far more. Every metric is computed from coordinates relative to a per-mesh origin (a vertex
near the pelvis, or the SMPL-X ``transl``), and the origins enter only as float64 vectors.
``Meshes.absolute()`` is the mesh the reference code would see.

One builder per body model (``smplx_meshes``, ``smpl_meshes`` in evaluator.smpl) so that caching
or a faster forward can replace it without touching the protocols.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from .formats import VERTICES, SampleSet


class Meshes(NamedTuple):
    local: Tensor  # (B, V, 3) float32 (the model dtype), small coordinates
    origin: Tensor  # (B, 1, 3) float64; absolute = local + origin

    def absolute(self) -> Tensor:
        return self.local.double() + self.origin

    def __len__(self) -> int:
        return self.local.shape[0]

    def select(self, mask: Tensor) -> "Meshes":
        return Meshes(self.local[mask], self.origin[mask])


def from_vertices(vertices: Tensor | np.ndarray, anchor: int, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> Meshes:
    """Split absolute vertices (B, V, 3) at vertex ``anchor``: the subtraction runs in the input's
    own precision (float32 differences of nearby values are exact), then is cast to ``dtype``."""
    v = torch.as_tensor(vertices, device=device)
    if not v.is_floating_point():
        v = v.double()
    origin = v[:, anchor: anchor + 1]
    return Meshes((v - origin).to(dtype), origin.double())


def linear_map(matrix_local: Tensor, row_sums: Tensor, meshes: Meshes) -> Meshes:
    """Meshes of ``matrix @ absolute`` (e.g. SMPL-X -> SMPL topology) without losing the origin:
    matrix @ (local + o) = matrix @ local + row_sums * o, and the (row_sums - 1) * o remainder is
    tiny, so it is folded into the local part."""
    local = torch.matmul(matrix_local, meshes.local)
    local = local + ((row_sums[None, :, None] - 1.0) * meshes.origin).to(local.dtype)
    return Meshes(local, meshes.origin)


def smplx_local_vertices(body_model, samples: SampleSet, index: np.ndarray) -> Tensor:
    """The neutral layer's vertices of param rows ``index`` with ``transl`` left out (float32, local)."""
    params = samples.take(index, dtype=None)
    params["transl"] = np.zeros((len(index), 3), dtype=np.float32)
    params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    return body_model.vertices(params, chunk_size=len(index))


def smplx_meshes(body_model, samples: SampleSet, index: np.ndarray) -> Meshes:
    """SMPL-X meshes of rows ``index`` of ``samples`` (params through the neutral layer, or stored
    vertices). For params, ``transl`` becomes the float64 origin and the layer runs without it; GT
    with a mesh cache (evaluator.gt_meshes) reads those local vertices instead of recomputing them."""
    if samples.kind == "vertices":
        arr = samples.take(index, dtype=None)[VERTICES]
        return from_vertices(arr, body_model.assets.anchor_vertex, body_model.device, body_model.dtype)
    transl = torch.as_tensor(np.asarray(samples.arrays["transl"][index], np.float64), device=body_model.device)
    cache = samples.mesh_cache
    if cache is not None and cache.body_model is body_model:
        local = cache.local(index)
    else:
        local = smplx_local_vertices(body_model, samples, index)
    return Meshes(local, transl.reshape(-1, 1, 3))
