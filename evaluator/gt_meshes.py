"""Ground-truth meshes built once per benchmark and stored next to the GT, so a submission pays only for
its own forward pass (issue 14: GT meshes were 37% of every sample's time).

Layout, beside the GT file ``gt.npz``::

    gt.npz.meshes/<key>/meta.json           what the key stands for (model hash, GT hash, sizes)
    gt.npz.meshes/<key>/shard-000003.npy    float32 (n, 3, V) local vertices of GT rows [3*S, 4*S),
                                            coordinate-major as the forward produces and the metrics read them

``key`` hashes the body model files, the GT file and the cache format, so replacing either gives a
new folder (and the old one is removed); nothing is ever served from a stale cache. Shards are built
lazily, the first time a row in them is scored, and written atomically (temporary file + rename):
two workers racing on the same shard both write identical bytes. Rows are read with positioned reads
into each chunk's buffer (not memory-mapped), so memory stays bounded by the chunk whatever the
benchmark size.

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
import weakref
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ehps_client.hashing import file_sha256

from .assets import resolve_model_dir
from .formats import SampleSet

CACHE_FORMAT = "3"  # bump when what is stored changes (the forward's numerics, the layout): 2 = (n, 3, V), 3 = block skinning
SHARD_SIZE = 512  # samples per shard file: 21 MB, built in well under a minute on one core


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
        self._open: dict[int, _ShardFile] = {}
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

    def _shard(self, shard: int) -> "_ShardFile":
        with self._lock:
            if shard in self._open:
                return self._open[shard]
            path = self.shard_path(shard)
            if not path.exists():
                local = self._build(shard)
                self._atomic_write(path, lambda f: np.save(f, local))
            opened = self._open[shard] = _ShardFile(path, (3, self.meta["num_vertices"]))
            return opened

    def _build(self, shard: int) -> np.ndarray:
        from .meshes import smplx_local_vertices

        rows = np.arange(shard * self.shard_size, min((shard + 1) * self.shard_size, len(self.gt)))
        return smplx_local_vertices(self.body_model, self.gt, rows).transpose(1, 2).contiguous().cpu().numpy()

    def build_all(self, rows: int | None = None) -> None:
        """Build every missing shard now (e.g. at import), or those holding the first ``rows`` rows;
        scoring would build them on first use."""
        last = self.num_shards if rows is None else -(-min(rows, len(self.gt)) // self.shard_size)
        for shard in range(last):
            self._shard(shard)

    def local(self, index: np.ndarray) -> Tensor:
        """(len(index), V, 3) float32 local vertices of GT rows ``index`` on the model's device (a view of
        coordinate-major storage, like the forward's)."""
        index = np.asarray(index, dtype=np.int64)
        if len(index) and (index.min() < 0 or index.max() >= len(self.gt)):
            raise IndexError(f"GT rows out of range [0, {len(self.gt)})")
        out = np.empty((len(index), 3, self.meta["num_vertices"]), dtype=np.float32)
        shards = index // self.shard_size
        # runs of consecutive rows within one shard: one positioned read each
        breaks = (np.flatnonzero((np.diff(index) != 1) | (np.diff(shards) != 0)) + 1).tolist()
        for start, stop in zip([0, *breaks], [*breaks, len(index)]) if len(index) else ():
            shard = int(shards[start])
            self._shard(shard).read(int(index[start]) - shard * self.shard_size, out[start:stop])
        return torch.from_numpy(out).to(self.body_model.device, self.body_model.dtype).transpose(1, 2)


class _ShardFile:
    """One stored shard, read with positioned reads into the caller's buffer. Unlike a memory map, nothing
    of the file stays mapped into the process, so a worker's resident memory is bounded by its chunk, not by
    the shards it has touched (a 2048-sample shard maps 258 MB of GT meshes)."""

    def __init__(self, path: Path, row_shape: tuple[int, ...]):
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, fortran_order, dtype = read_header(f)
            self.offset = f.tell()
        if dtype != np.float32 or fortran_order or tuple(shape[1:]) != row_shape:
            raise ValueError(f"{path}: unexpected GT mesh shard layout {shape} {dtype}")
        self.rows, self.row_bytes = shape[0], int(np.prod(row_shape)) * dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    def read(self, first_row: int, out: np.ndarray) -> None:
        """Rows [first_row, first_row + len(out)) into the C-contiguous ``out``."""
        if first_row < 0 or first_row + len(out) > self.rows:
            raise IndexError(f"rows {first_row}..{first_row + len(out)} outside a shard of {self.rows}")
        view = memoryview(out).cast("B")
        done = os.preadv(self.fd, [view], self.offset + first_row * self.row_bytes)
        if done != view.nbytes:
            raise OSError(f"short read of a GT mesh shard: {done} of {view.nbytes} bytes")


def attach_mesh_cache(body_model, gt: SampleSet, gt_path: str | os.PathLike, model_hash: str | None = None,
                      gt_hash: str | None = None) -> SampleSet:
    """``gt`` with a GtMeshCache attached (params GT only; vertex GT is returned unchanged)."""
    if gt.kind != "params":
        return gt
    return gt.with_mesh_cache(GtMeshCache(body_model, gt, gt_path, model_hash, gt_hash))
