"""Ground-truth meshes built once per benchmark and stored next to the GT, so a submission pays only for
its own forward pass (issue 14: GT meshes were 37% of every sample's time).

Layout, beside the GT file ``gt.npz``::

    gt.npz.meshes/<key>/meta.json           what the key stands for (model hash, GT hash, sizes)
    gt.npz.meshes/<key>/shard-000003.npy    float32 (n, 3, V) local vertices of GT rows [3*S, 4*S),
                                            coordinate-major as the forward produces and the metrics read them

``key`` hashes the body model files, the GT file and the cache format, so replacing either gives a
new folder (and the old one is removed); nothing is ever served from a stale cache. Shards are built
lazily, the first time a row in them is scored, and written atomically (temporary file + rename):
two workers racing on the same shard both write identical bytes. Reads are memory-mapped, so memory
stays bounded whatever the benchmark size.

Stored are exactly the float32 ``local`` coordinates ``evaluator.meshes.smplx_meshes`` computes (the
lean forward without ``transl``; it is chunk-size independent), so cached and uncached scoring agree
bit for bit. ``transl`` (the float64 origin) is read from the GT as before.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .assets import resolve_model_dir
from .formats import SampleSet

CACHE_FORMAT = "2"  # bump when what is stored changes (the forward's numerics, the layout: 2 = (n, 3, V))
SHARD_SIZE = 512  # samples per shard file: 21 MB, built in well under a minute on one core
_HASH_BLOCK = 1 << 20


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def model_files_hash(model_dir: str | os.PathLike) -> str:
    """sha256 over every file of a body model folder (relative names and contents)."""
    root = resolve_model_dir(model_dir)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + file_sha256(path).encode() + b"\n")
    return digest.hexdigest()


def cache_root(gt_path: Path) -> Path:
    return gt_path.with_name(gt_path.name + ".meshes")


class GtMeshCache:
    """Local (transl-free) float32 GT vertices, per shard, for one GT file and one body model."""

    def __init__(self, body_model, gt: SampleSet, gt_path: str | os.PathLike, model_hash: str | None = None,
                 gt_hash: str | None = None, shard_size: int = SHARD_SIZE):
        if gt.kind != "params":
            raise ValueError("only GT given as SMPL-X params needs a mesh cache")
        self.body_model, self.gt, self.shard_size = body_model, gt, shard_size
        gt_path = Path(gt_path)
        model_hash = model_hash or model_files_hash(body_model.model_dir)
        gt_hash = gt_hash or file_sha256(gt_path)
        self.meta = {"format": CACHE_FORMAT, "model_sha256": model_hash, "gt_sha256": gt_hash,
                     "num_samples": len(gt), "shard_size": shard_size, "dtype": "float32",
                     "num_vertices": body_model.layer.get_num_verts()}
        key = hashlib.sha256(json.dumps(self.meta, sort_keys=True).encode()).hexdigest()[:24]
        self.root = cache_root(gt_path)
        self.folder = self.root / key
        self._mapped: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()
        self._prepare_folder()

    def _prepare_folder(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.root.iterdir():  # another model or GT version: never read again
            if stale != self.folder and stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        meta_path = self.folder / "meta.json"
        if not meta_path.exists():
            self._atomic_write(meta_path, lambda f: f.write(json.dumps(self.meta, indent=1).encode()))

    def _atomic_write(self, path: Path, write) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @property
    def num_shards(self) -> int:
        return -(-len(self.gt) // self.shard_size)

    def shard_path(self, shard: int) -> Path:
        return self.folder / f"shard-{shard:06d}.npy"

    def _shard(self, shard: int) -> np.ndarray:
        with self._lock:
            if shard in self._mapped:
                return self._mapped[shard]
            path = self.shard_path(shard)
            if not path.exists():
                local = self._build(shard)
                self._atomic_write(path, lambda f: np.save(f, local))
            mapped = self._mapped[shard] = np.load(path, mmap_mode="r")
            return mapped

    def _build(self, shard: int) -> np.ndarray:
        from .meshes import smplx_local_vertices

        rows = np.arange(shard * self.shard_size, min((shard + 1) * self.shard_size, len(self.gt)))
        return smplx_local_vertices(self.body_model, self.gt, rows).transpose(1, 2).contiguous().cpu().numpy()

    def build_all(self) -> None:
        """Build every missing shard now (e.g. at import); scoring would build them on first use."""
        for shard in range(self.num_shards):
            self._shard(shard)

    def local(self, index: np.ndarray) -> Tensor:
        """(len(index), V, 3) float32 local vertices of GT rows ``index`` on the model's device (a view of
        coordinate-major storage, like the forward's)."""
        index = np.asarray(index, dtype=np.int64)
        out = np.empty((len(index), 3, self.meta["num_vertices"]), dtype=np.float32)
        shards = index // self.shard_size
        for shard in np.unique(shards):
            pick = shards == shard
            out[pick] = self._shard(int(shard))[index[pick] - shard * self.shard_size]
        return torch.from_numpy(out).to(self.body_model.device, self.body_model.dtype).transpose(1, 2)


def attach_mesh_cache(body_model, gt: SampleSet, gt_path: str | os.PathLike, model_hash: str | None = None,
                      gt_hash: str | None = None) -> SampleSet:
    """``gt`` with a GtMeshCache attached (params GT only; vertex GT is returned unchanged)."""
    if gt.kind != "params":
        return gt
    return gt.with_mesh_cache(GtMeshCache(body_model, gt, gt_path, model_hash, gt_hash))
