"""Ground-truth and prediction files (.npz) — loading, validation, matching. See docs/formats.md.

NumPy only (no torch, no Django): the light client's offline checker (``ehps check``), the web process's upload
checks and the workers (through evaluator.formats) all run exactly these checks.
"""
from __future__ import annotations

import io
import mmap
import os
import tokenize
import zipfile
import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Literal

import numpy as np

from .layouts import NUM_SMPL_VERTICES, NUM_SMPLX_VERTICES, OPTIONAL_PARAMS, PARAM_SIZES, SMPL_GENDERS, SMPL_PARAM_SIZES

SAMPLE_IDS, SPLITS, VERTICES = "sample_ids", "splits", "vertices"
DEFAULT_SPLIT = "test"
MAX_ID_LENGTH = 256
# |value| above this (metres, radians, coefficients) is refused: it is surely a unit or packing bug,
# and it keeps every float32 product in the metrics far from overflow (so no inf/NaN scores).
MAX_ABS_VALUE = 1e5
# Accepted per-sample shapes; the first one is canonical.
PARAM_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    k: ((21, 3), (63,)) if k == "body_pose" else ((15, 3), (45,)) if k.endswith("hand_pose") else ((n,),)
    for k, n in PARAM_SIZES.items()
}
SMPL_PARAM_SHAPES: dict[str, tuple[tuple[int, ...], ...]] = {
    k: ((23, 3), (69,)) if k == "body_pose" else ((n,),) for k, n in SMPL_PARAM_SIZES.items()
}
VERTEX_SHAPE = (NUM_SMPLX_VERTICES, 3)
# A multi-benchmark upload is a .zip of <benchmark slug>.npz members at its top level.
BUNDLE_MEMBER = re.compile(r"^(?P<slug>[-a-zA-Z0-9_]+)\.npz$")
_CHECK_CHUNK = 512  # samples per finiteness check, bounds memory for large vertex files
Role = Literal["gt", "pred"]


@dataclass(frozen=True)
class MetaKey:
    """A per-sample GT key that is not geometry: camera intrinsics, validity flags, gender."""

    kind: Literal["float", "flag", "gender"]
    shape: tuple[int, ...] = ()
    required: bool = False
    doc: str = ""


@dataclass(frozen=True)
class Schema:
    """What a file of one topology may hold: body-model params or vertices, plus GT meta keys."""

    name: str
    num_vertices: int
    params: dict[str, tuple[tuple[int, ...], ...]]
    optional_params: frozenset[str]
    meta: dict[str, MetaKey]

    @property
    def vertex_shape(self) -> tuple[int, int]:
        return (self.num_vertices, 3)


_HAND_FLAGS = {
    "lhand_valid": MetaKey("flag", doc="left hand GT valid (SMPLest-X validity weights)"),
    "rhand_valid": MetaKey("flag", doc="right hand GT valid"),
}
SCHEMAS: dict[str, Schema] = {
    "smplx": Schema("smplx", NUM_SMPLX_VERTICES, PARAM_SHAPES, OPTIONAL_PARAMS, dict(_HAND_FLAGS)),
    "smplx-camera": Schema("smplx-camera", NUM_SMPLX_VERTICES, PARAM_SHAPES, OPTIONAL_PARAMS, {
        **_HAND_FLAGS,
        "focal": MetaKey("float", (2,), True, "focal length (fx, fy) in pixels"),
        "princpt": MetaKey("float", (2,), True, "principal point (cx, cy) in pixels"),
        "image_size": MetaKey("float", (2,), True, "image (width, height) in pixels"),
    }),
    "smpl": Schema("smpl", NUM_SMPL_VERTICES, SMPL_PARAM_SHAPES, frozenset(), {
        "gender": MetaKey("gender", doc="'neutral' (default), 'male' or 'female' per sample"),
    }),
}


class FormatError(ValueError):
    """A ground-truth or prediction file is malformed; the message names file, key, shape, id."""


@dataclass(frozen=True)
class SampleSet:
    """Validated samples. ``arrays`` hold either SMPL-X params or ``vertices`` (may be read-only file maps)."""

    name: str
    sample_ids: np.ndarray  # (N,) unicode
    splits: np.ndarray  # (N,) unicode
    arrays: dict[str, np.ndarray]
    meta: dict[str, np.ndarray] = field(default_factory=dict)  # GT-only per-sample keys (Schema.meta)
    schema: str = "smplx"
    # evaluator.gt_meshes.GtMeshCache of these GT rows (attach with ``with_mesh_cache``); not part of equality
    mesh_cache: Any = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.sample_ids)

    @property
    def kind(self) -> Literal["params", "vertices"]:
        return "vertices" if VERTICES in self.arrays else "params"

    @property
    def split_names(self) -> list[str]:
        return sorted(set(self.splits.tolist()))

    def take(self, index: np.ndarray | slice, dtype: np.dtype | type | None = np.float32) -> dict[str, np.ndarray]:
        """Arrays of the selected samples (reads only those rows from file-mapped arrays, then releases their
        pages: see ``release_pages``); ``dtype=None`` keeps each array's stored float type."""
        out = {k: np.ascontiguousarray(v[index], dtype=dtype) for k, v in self.arrays.items()}
        for v in self.arrays.values():
            release_pages(v)
        return out

    def with_mesh_cache(self, cache: Any) -> "SampleSet":
        return dataclasses.replace(self, mesh_cache=cache)

    def subset(self, index: np.ndarray) -> "SampleSet":
        index = np.asarray(index)
        return SampleSet(self.name, self.sample_ids[index], self.splits[index],
                         {k: v[index] for k, v in self.arrays.items()},
                         {k: v[index] for k, v in self.meta.items()}, self.schema)


def _fail(name: str, msg: str) -> FormatError:
    return FormatError(f"{name}: {msg}")


def _memmap_member(path: Path, zf: zipfile.ZipFile, member: str) -> np.ndarray | None:
    """Memory-map an uncompressed .npy member of a zip, or None when that is not possible."""
    info = zf.getinfo(member)
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        local = f.read(30)
        if local[:4] != b"PK\x03\x04":
            return None
        data_start = info.header_offset + 30 + int.from_bytes(local[26:28], "little") + int.from_bytes(local[28:30], "little")
        f.seek(data_start)
        version = np.lib.format.read_magic(f)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, fortran, dtype = read_header(f)
        if dtype.hasobject or fortran:
            return None
        offset = f.tell()
        count = int(np.prod(shape))
        if count == 0:
            return None
        start = offset - offset % mmap.ALLOCATIONGRANULARITY
        mapping = mmap.mmap(f.fileno(), offset - start + count * dtype.itemsize, access=mmap.ACCESS_READ, offset=start)
    return np.frombuffer(mapping, dtype=dtype, count=count, offset=offset - start).reshape(shape)


def release_pages(arr: np.ndarray) -> None:
    """Drop the pages of a file-mapped array (``_memmap_member``) from this process's resident memory.

    They stay in the page cache and a later read maps them back, so checking or scoring a benchmark a block
    of rows at a time keeps a worker's resident memory bounded by the block, not by the file (the checks
    read every row; a 100k-sample vertex file is 12.6 GB). No-op for arrays in ordinary memory."""
    base = arr
    while base is not None and not isinstance(base, mmap.mmap):
        base = base.obj if isinstance(base, memoryview) else getattr(base, "base", None)
    if base is not None and hasattr(mmap, "MADV_DONTNEED"):
        base.madvise(mmap.MADV_DONTNEED)


def _read_arrays(source: str | os.PathLike | BinaryIO, name: str) -> dict[str, np.ndarray]:
    path = Path(source) if isinstance(source, (str, os.PathLike)) else None
    try:
        if path is not None and not path.is_file():
            raise _fail(name, "file not found")
        if path is None:
            source = io.BytesIO(source.read())  # type: ignore[union-attr]
        if not zipfile.is_zipfile(path if path is not None else source):
            raise _fail(name, "not an .npz file (expected a zip archive written by numpy.savez)")
        if path is None:
            source.seek(0)  # type: ignore[union-attr]
        with np.load(path if path is not None else source, allow_pickle=False) as npz:
            out = {}
            for key in npz.files:
                try:
                    mapped = _memmap_member(path, npz.zip, key + ".npy") if path is not None else None
                    out[key] = mapped if mapped is not None else npz[key]
                except ValueError as exc:
                    if "allow_pickle" in str(exc):
                        raise _fail(name, f"key '{key}' holds a Python object array; only numeric/string "
                                          "arrays are accepted (objects are never unpickled)") from None
                    raise _fail(name, f"key '{key}' cannot be read: {exc}") from None
            return out
    except FormatError:
        raise
    # numpy parses a garbled .npy header with ast/tokenize, which raise SyntaxError/TokenError
    except (OSError, ValueError, SyntaxError, tokenize.TokenError, zipfile.BadZipFile, EOFError, KeyError) as exc:
        raise _fail(name, f"corrupt or unreadable .npz ({type(exc).__name__}: {exc})") from None


def _string_array(arr: np.ndarray, key: str, n: int | None, name: str) -> np.ndarray:
    if arr.dtype.kind == "S":
        try:
            arr = np.char.decode(arr, "utf-8")
        except UnicodeDecodeError:
            raise _fail(name, f"key '{key}': bytes are not valid UTF-8") from None
    if arr.dtype.kind != "U":
        raise _fail(name, f"key '{key}' must be a string array (numpy unicode, e.g. np.array(['a', 'b'])), "
                          f"got dtype {arr.dtype}")
    if arr.ndim != 1 or (n is not None and arr.shape[0] != n):
        expected = f"({n},)" if n is not None else "(N,)"
        raise _fail(name, f"key '{key}': expected shape {expected}, got {arr.shape}")
    arr = np.array(arr)  # small; copy out of any memmap
    stripped = np.char.strip(arr)
    bad = np.flatnonzero((np.char.str_len(stripped) == 0) | (np.char.str_len(arr) > MAX_ID_LENGTH))
    if bad.size:
        raise _fail(name, f"key '{key}': entry {bad[0]} ({arr[bad[0]]!r}) is empty or longer than "
                          f"{MAX_ID_LENGTH} characters")
    return arr


def _check_numeric(arr: np.ndarray, key: str, shapes: tuple[tuple[int, ...], ...], ids: np.ndarray,
                   name: str) -> np.ndarray:
    n = len(ids)
    if arr.dtype.kind != "f":
        what = "integer" if arr.dtype.kind in "iub" else "non-numeric"
        raise _fail(name, f"key '{key}': expected a floating-point array, got {what} dtype {arr.dtype}")
    if arr.shape[:1] != (n,) or arr.shape[1:] not in shapes:
        expected = " or ".join(str((n, *s)) for s in shapes)
        raise _fail(name, f"key '{key}': expected shape {expected}, got {arr.shape}")
    for start in range(0, n, _CHECK_CHUNK):
        block = np.asarray(arr[start: start + _CHECK_CHUNK])
        finite = np.isfinite(block).reshape(len(block), -1).all(1)
        if not finite.all():
            first = start + int(np.argmin(finite))
            raise _fail(name, f"key '{key}': NaN or inf for sample '{ids[first]}' (row {first})")
        huge = (np.abs(block) > MAX_ABS_VALUE).reshape(len(block), -1).any(1)
        if huge.any():
            first = start + int(np.argmax(huge))
            raise _fail(name, f"key '{key}': a value beyond +-{MAX_ABS_VALUE:g} for sample '{ids[first]}' "
                              f"(row {first}); vertices are in metres")
        release_pages(arr)
    return arr.reshape(n, *shapes[0])


def _check_meta(arr: np.ndarray, key: str, spec: MetaKey, ids: np.ndarray, name: str) -> np.ndarray:
    n = len(ids)
    if spec.kind == "gender":
        values = np.char.lower(np.char.strip(_string_array(arr, key, n, name)))
        bad = np.flatnonzero(~np.isin(values, SMPL_GENDERS))
        if bad.size:
            raise _fail(name, f"key '{key}': {values[bad[0]]!r} for sample '{ids[bad[0]]}' is not one of "
                              f"{list(SMPL_GENDERS)}")
        return values
    if spec.kind == "flag":
        if arr.dtype.kind not in "biuf" or arr.shape != (n,):
            raise _fail(name, f"key '{key}': expected a numeric or boolean array of shape ({n},), "
                              f"got {arr.dtype} {arr.shape}")
        values = np.asarray(arr, dtype=np.float64)
        if not np.isin(values, (0.0, 1.0)).all():
            raise _fail(name, f"key '{key}': flags must be 0/1 (or booleans)")
        return values.astype(bool)
    return np.asarray(_check_numeric(arr, key, (spec.shape,), ids, name), dtype=np.float64)


def load_sample_set(source: str | os.PathLike | BinaryIO, name: str | None = None, role: Role = "pred",
                    schema: str = "smplx") -> SampleSet:
    """Load and validate a ground-truth (``role='gt'``) or prediction (``role='pred'``) .npz.

    ``source`` is a path or a binary file object; ``name`` is used in error messages (defaults
    to the file name). ``schema`` (a key of SCHEMAS) says which body model's params / vertex
    count the file holds and which GT meta keys it may carry; predictions are always SMPL-X.
    Raises FormatError on any problem.
    """
    if schema not in SCHEMAS:
        raise ValueError(f"unknown schema {schema!r}; known: {sorted(SCHEMAS)}")
    spec = SCHEMAS[schema]
    name = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "uploaded file")
    arrays = _read_arrays(source, name)
    if SAMPLE_IDS not in arrays:
        raise _fail(name, f"missing key '{SAMPLE_IDS}' (keys present: {sorted(arrays)})")
    ids = _string_array(arrays.pop(SAMPLE_IDS), SAMPLE_IDS, None, name)
    if len(ids) == 0:
        raise _fail(name, "no samples ('sample_ids' is empty)")
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        dup = uniq[counts > 1]
        raise _fail(name, f"duplicate sample ids: {', '.join(map(repr, dup[:5].tolist()))}"
                          f"{'' if len(dup) <= 5 else f' (+{len(dup) - 5} more)'}")
    if role == "gt" and SPLITS in arrays:
        splits = _string_array(arrays.pop(SPLITS), SPLITS, len(ids), name)
    else:
        splits = np.full(len(ids), DEFAULT_SPLIT)
    meta_specs = spec.meta if role == "gt" else {}
    raw_meta = {k: arrays.pop(k) for k in list(arrays) if k in meta_specs}
    if VERTICES in arrays:
        allowed: dict[str, tuple[tuple[int, ...], ...]] = {VERTICES: (spec.vertex_shape,)}
        required = [VERTICES]
    else:
        allowed = dict(spec.params)
        required = [k for k in spec.params if k not in spec.optional_params]
    unknown = sorted(set(arrays) - set(allowed))
    if unknown:
        extra = " (vertices and body-model params cannot be mixed)" if VERTICES in arrays else ""
        listed = [SAMPLE_IDS, *([SPLITS] if role == "gt" else []), *allowed, *meta_specs]
        raise _fail(name, f"unknown keys {unknown}{extra}; allowed: {listed}")
    missing = [k for k in required if k not in arrays]
    missing_meta = [k for k, m in meta_specs.items() if m.required and k not in raw_meta]
    if missing or missing_meta:
        what = f"missing keys {missing + missing_meta}"
        if missing:
            what += f" (give either 'vertices' or the {schema} params {required})"
        raise _fail(name, what)
    checked = {k: _check_numeric(v, k, allowed[k], ids, name) for k, v in arrays.items()}
    meta = {k: _check_meta(v, k, meta_specs[k], ids, name) for k, v in raw_meta.items()}
    return SampleSet(name=name, sample_ids=ids, splits=splits, arrays=checked, meta=meta, schema=schema)


def _id_list(ids: np.ndarray) -> str:
    shown = ", ".join(repr(x) for x in ids[:5].tolist())
    return f"{shown}{'' if len(ids) <= 5 else ', ...'} ({len(ids)} in total)"


def match_samples(gt: SampleSet, pred: SampleSet) -> np.ndarray:
    """Index array ``p`` (len(gt),) with ``pred.sample_ids[p[i]] == gt.sample_ids[i]``.

    Every GT sample must be predicted exactly once and no unknown ids may appear.
    """
    uniq, counts = np.unique(pred.sample_ids, return_counts=True)
    if (counts > 1).any():
        raise _fail(pred.name, f"duplicate sample ids: {_id_list(uniq[counts > 1])}")
    order = np.argsort(pred.sample_ids, kind="stable")
    sorted_ids = pred.sample_ids[order]
    pos = np.clip(np.searchsorted(sorted_ids, gt.sample_ids), 0, len(sorted_ids) - 1)
    found = sorted_ids[pos] == gt.sample_ids
    unknown = np.setdiff1d(pred.sample_ids, gt.sample_ids)
    problems = []
    if not found.all():
        problems.append(f"missing predictions for sample ids {_id_list(gt.sample_ids[~found])}")
    if unknown.size:
        problems.append(f"unknown sample ids {_id_list(unknown)}")
    if problems:
        raise _fail(pred.name, "; ".join(problems))
    return order[pos]


def bundle_slugs(member_names: list[str], name: str) -> list[str]:
    """The benchmark slugs of a multi-benchmark .zip's members, in order; FormatError for a folder, a member that is
    not ``<benchmark slug>.npz``, a repeated member or an empty zip."""
    if not member_names:
        raise _fail(name, "the zip archive is empty; it should hold one <benchmark>.npz per benchmark")
    slugs: list[str] = []
    for member in member_names:
        match = BUNDLE_MEMBER.match(member)
        if match is None:
            raise _fail(name, f"unexpected member '{member}'. The zip may hold only <benchmark slug>.npz files at its "
                              "top level (no folders)")
        if match["slug"] in slugs:
            raise _fail(name, f"member '{member}' appears twice")
        slugs.append(match["slug"])
    return slugs
