"""SMPL-X meshes from parameters through the real ``smplx`` package, plus evaluation assets."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np
import smplx
import torch
from torch import Tensor

from .assets import load_part_files, resolve_model_dir
from .lean_forward import LeanSMPLX
from .parts import MetricAssets
from .smplx_params import OPTIONAL_PARAMS, PARAM_SIZES, REQUIRED_PARAMS  # noqa: F401  (re-exported)


@dataclass(frozen=True)
class BodyModel:
    """Neutral SMPL-X layer (use_pca=False, flat_hand_mean=False, 10 betas, 10 expression)."""

    model_dir: Path
    layer: smplx.SMPLX
    assets: MetricAssets
    device: torch.device
    dtype: torch.dtype
    lean: LeanSMPLX  # the fast forward used for scoring; ``layer`` (smplx's own) stays the reference

    @property
    def J_regressor(self) -> Tensor:  # (55, V)
        return self.layer.J_regressor

    @property
    def j14_regressor(self) -> Tensor:  # (14, V)
        return self.assets.j14_regressor

    @property
    def hand_regressor_left(self) -> Tensor:  # (21, V)
        return self.assets.hand_regressor_left

    @property
    def hand_regressor_right(self) -> Tensor:  # (21, V)
        return self.assets.hand_regressor_right

    @property
    def left_hand_ids(self) -> Tensor:
        return self.assets.left_hand

    @property
    def right_hand_ids(self) -> Tensor:
        return self.assets.right_hand

    @property
    def face_ids(self) -> Tensor:
        return self.assets.face

    def vertices(self, params: Mapping[str, Tensor | np.ndarray], chunk_size: int = 512,
                 reference: bool = False) -> Tensor:
        """Meshes (B, 10475, 3) in metres for axis-angle SMPL-X parameters (batch first).

        Shapes per sample: see PARAM_SIZES ((21,3) / (15,3) poses are accepted too).
        Runs in chunks of ``chunk_size`` so per-vertex temporaries stay bounded. Uses the lean forward
        (evaluator.lean_forward) unless ``reference`` asks for smplx's own ``SMPLX.forward``.
        (Scoring uses ``evaluator.meshes.smplx_meshes``, which keeps ``transl`` apart in float64.)
        The result is a (B, V, 3) view of coordinate-major (B, 3, V) storage, as the metrics read it.
        """
        missing = [k for k in REQUIRED_PARAMS if k not in params]
        unknown = sorted(set(params) - set(PARAM_SIZES))
        if missing or unknown:
            raise KeyError(f"SMPL-X params: missing {missing}, unknown {unknown}")
        batch = len(params["global_orient"])
        flat = {}
        for key, size in PARAM_SIZES.items():
            value = params.get(key)
            if value is None:
                flat[key] = torch.zeros(batch, size, device=self.device, dtype=self.dtype)
                continue
            value = torch.as_tensor(value, device=self.device, dtype=self.dtype).reshape(len(value), -1)
            if value.shape != (batch, size):
                raise ValueError(f"SMPL-X param {key}: expected ({batch}, {size}), got {tuple(value.shape)}")
            flat[key] = value
        with torch.inference_mode():
            if batch <= chunk_size and not reference:
                return self.lean.vertices(**flat)
            out = torch.empty(batch, 3, self.layer.get_num_verts(), device=self.device, dtype=self.dtype)
            for start in range(0, batch, chunk_size):
                chunk = {k: v[start: start + chunk_size] for k, v in flat.items()}
                if reference:
                    verts = self.layer(**chunk, return_shaped=False).vertices
                else:
                    verts = self.lean.vertices(**chunk)
                out[start: start + chunk_size] = verts.transpose(1, 2)
        return out.transpose(1, 2)


_CACHE: dict[tuple[str, str, torch.dtype], BodyModel] = {}
_LOCK = threading.Lock()


def load_body_model(model_dir: str | os.PathLike, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> BodyModel:
    """Load (once per process, per directory/device/dtype) the neutral SMPL-X model and assets.

    ``model_dir`` holds ``smplx/SMPLX_NEUTRAL.npz`` and the part files (see evaluator.assets).
    """
    root = resolve_model_dir(model_dir)
    dev = torch.device(device)
    key = (str(root), str(dev), dtype)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = _load(root, dev, dtype)
        return _CACHE[key]


def clear_body_model_cache() -> None:
    """Forget every loaded model, e.g. after the files in a model folder were replaced."""
    with _LOCK:
        _CACHE.clear()


def _load(root: Path, device: torch.device, dtype: torch.dtype) -> BodyModel:
    layer = smplx.create(str(root), "smplx", gender="neutral", use_pca=False, use_face_contour=True,
                         flat_hand_mean=False, num_betas=10, num_expression_coeffs=10, ext="npz",
                         dtype=dtype).to(device)
    layer.requires_grad_(False)
    parts = load_part_files(root)
    assets = MetricAssets.build(layer.J_regressor.detach().cpu().double().numpy(), parts.j14_regressor,
                                parts.left_hand, parts.right_hand, parts.face, device=device, dtype=dtype)
    return BodyModel(model_dir=root, layer=layer, assets=assets, device=device, dtype=dtype, lean=LeanSMPLX(layer))
