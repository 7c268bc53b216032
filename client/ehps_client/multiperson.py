"""Multi-person image files (.npz, ``allow_pickle=False``): one row per person, grouped by ``image_ids``.

NumPy only, in the light client: the offline checker (``ehps check``), the web's upload check and the worker apply
these same checks (evaluator.multiperson_format re-exports them). See docs/formats.md ("Multi-person images"). Row order within an image is kept: the official
matcher breaks cost ties by it.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Collection
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from .formats import FormatError
from .layouts import NUM_SMPLX_VERTICES, PARAM_SIZES, REQUIRED_PARAMS

NUM_VERTICES = NUM_SMPLX_VERTICES
MATCH_JOINTS = 24
NUM_JOINTS3D = 127  # the official allSmplJoints3d layout (SMPL-X joints + extra vertices + 51 landmarks)
MAX_ABS = 1e5
IMAGE_IDS, JOINTS2D, VERTICES, JOINTS3D, SCORES = "image_ids", "joints2d", "vertices", "joints3d", "scores"
REQUIRED_SHAPES = {VERTICES: (NUM_VERTICES, 3), JOINTS3D: (NUM_JOINTS3D, 3)}  # per person, for the messages
GT_FLOAT_META = ("occlusion", "yaw", "cam_yaw", "image_width", "image_height")
GT_FLAG_META = ("valid", "kid")
GT_REQUIRED_META = ("occlusion", "valid", "image_width", "image_height")


class MultiPersonFormatError(FormatError):
    """A multi-person file is malformed; the message names the file, key, shape or image id."""


@dataclass(frozen=True)
class PersonSet:
    """People of many images: ``arrays`` rows are people, ``image_ids`` the image of each row."""

    name: str
    image_ids: np.ndarray  # (N,) str, one per person
    arrays: dict[str, np.ndarray]  # joints2d, vertices | SMPL-X params, optional joints3d/scores
    meta: dict[str, np.ndarray]  # GT only: occlusion, valid, kid, yaw, cam_yaw, image_width, image_height
    images: np.ndarray  # (I,) unique image ids, in order of first appearance
    splits: np.ndarray  # (I,) split per image ("test" by default)

    def __len__(self) -> int:
        return len(self.image_ids)

    @property
    def sample_ids(self) -> np.ndarray:
        """The benchmark's samples are its images (what the public id list names; people per image stay private)."""
        return self.images

    @property
    def split_names(self) -> list[str]:
        return sorted(set(self.splits.tolist()))

    @property
    def kind(self) -> str:
        return "vertices" if VERTICES in self.arrays else "params"

    def rows_by_image(self) -> dict[str, np.ndarray]:
        """{image id: person rows in file order}."""
        order = np.argsort(self.image_ids, kind="stable")
        ids = self.image_ids[order]
        cuts = np.flatnonzero(ids[1:] != ids[:-1]) + 1
        return {str(group[0]): rows for group, rows in zip(np.split(ids, cuts), np.split(order, cuts)) if len(group)}


def _fail(name: str, msg: str) -> MultiPersonFormatError:
    return MultiPersonFormatError(f"{name}: {msg}")


def _strings(arr: np.ndarray, key: str, n: int | None, name: str) -> np.ndarray:
    if arr.dtype.kind not in "UO" or arr.ndim != 1 or (n is not None and len(arr) != n):
        want = f"({n},)" if n is not None else "(N,)"
        raise _fail(name, f"'{key}' must be a {want} string array, got dtype {arr.dtype} shape {arr.shape}")
    out = arr.astype(str)
    if any(len(s) == 0 or len(s) > 256 for s in out):
        raise _fail(name, f"'{key}' entries must be 1-256 characters")
    return out


def _numeric(arr: np.ndarray, key: str, shape: tuple[int, ...], ids: np.ndarray, name: str,
             min_tail: tuple[int, ...] | None = None) -> np.ndarray:
    """Check (N, *shape) (or at least ``min_tail`` per row), finite and in range; names the first bad image."""
    if arr.dtype.kind not in "fiu":
        raise _fail(name, f"'{key}' must be numeric, got dtype {arr.dtype}")
    n = len(ids)
    ok = arr.ndim == 1 + len(shape) and arr.shape[0] == n and (
        arr.shape[1:] == shape if min_tail is None
        else all(a >= b for a, b in zip(arr.shape[1:], min_tail)) and arr.shape[2:] == shape[1:])
    if not ok:
        want = f"({n}, {', '.join(map(str, shape))})" if min_tail is None else f"({n}, >={min_tail[0]}, {shape[1]})"
        raise _fail(name, f"'{key}' has shape {arr.shape}, expected {want}")
    flat = arr.reshape(n, -1)
    bad = ~np.isfinite(flat).all(axis=1) | (np.abs(flat) > MAX_ABS).any(axis=1) if n else np.zeros(0, bool)
    if bad.any():
        raise _fail(name, f"'{key}' of image {ids[np.argmax(bad)]!r} is not finite or above {MAX_ABS:g} in size")
    return arr


def _read(source: str | os.PathLike | BinaryIO, name: str) -> dict[str, np.ndarray]:
    try:
        with np.load(source, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise _fail(name, f"not a readable .npz without pickled objects ({exc})") from None


def load_person_set(source: str | os.PathLike | BinaryIO, role: str = "pred", name: str | None = None,
                    required: Collection[str] = ()) -> PersonSet:
    """Read and validate a GT (``role="gt"``) or prediction file; MultiPersonFormatError on any problem.

    ``required``: keys the benchmark needs beyond the layout's own (``Protocol.required_prediction_keys``; the
    inputs manifest's ``required_prediction_keys`` offline), e.g. BEDLAM: ``vertices`` and ``joints3d``.
    """
    name = name or (os.path.basename(os.fspath(source)) if isinstance(source, (str, os.PathLike)) else role)
    data = _read(source, name)
    if IMAGE_IDS not in data:
        raise _fail(name, f"missing '{IMAGE_IDS}' (one image id per person)")
    ids = _strings(data[IMAGE_IDS], IMAGE_IDS, None, name)
    n = len(ids)
    if JOINTS2D not in data:
        raise _fail(name, f"missing '{JOINTS2D}' ({n}, {MATCH_JOINTS}, 2) pixel joints used for matching")
    arrays = {JOINTS2D: _numeric(data[JOINTS2D], JOINTS2D, (MATCH_JOINTS, 2), ids, name,
                                 min_tail=(MATCH_JOINTS, 2) if role == "gt" else None)}
    if VERTICES in data:
        arrays[VERTICES] = _numeric(data[VERTICES], VERTICES, (NUM_VERTICES, 3), ids, name)
    else:
        missing = [k for k in REQUIRED_PARAMS if k not in data]
        if missing:
            raise _fail(name, f"needs '{VERTICES}' ({n}, {NUM_VERTICES}, 3) or SMPL-X params; missing {missing}")
        for key, size in PARAM_SIZES.items():
            if key in data:
                arrays[key] = _numeric(data[key].reshape(len(data[key]), -1) if data[key].ndim > 1 else data[key],
                                       key, (size,), ids, name)
    if JOINTS3D in data:
        arrays[JOINTS3D] = _numeric(data[JOINTS3D], JOINTS3D, (NUM_JOINTS3D, 3), ids, name)
    for key in required:
        if key not in data:
            shape = REQUIRED_SHAPES.get(key, ())
            raise _fail(name, f"missing '{key}' ({', '.join(map(str, (n, *shape)))}): this benchmark needs it"
                              f"{' (SMPL-X params are not enough)' if key == VERTICES else ''}")
    if role == "pred" and SCORES in data:
        arrays[SCORES] = _numeric(data[SCORES], SCORES, (), ids, name)
    known = {IMAGE_IDS, JOINTS2D, VERTICES, JOINTS3D, *PARAM_SIZES, *(
        (*GT_FLOAT_META, *GT_FLAG_META, "splits") if role == "gt" else (SCORES,))}
    unknown = sorted(set(data) - known)
    if unknown:
        raise _fail(name, f"unknown key(s) {unknown}")
    images, first = np.unique(ids, return_index=True)
    images = images[np.argsort(first, kind="stable")]
    meta: dict[str, np.ndarray] = {}
    splits = np.full(len(images), "test", dtype=object).astype(str)
    if role == "gt":
        meta = _gt_meta(data, ids, name)
        if "splits" in data:
            per_person = _strings(data["splits"], "splits", n, name)
            splits = _per_image(per_person, ids, images, "splits", name)
        for key in ("image_width", "image_height", "cam_yaw"):
            if key in meta:
                _per_image(meta[key], ids, images, key, name)
    return PersonSet(name, ids, arrays, meta, images, splits)


def _gt_meta(data: dict[str, np.ndarray], ids: np.ndarray, name: str) -> dict[str, np.ndarray]:
    missing = [k for k in GT_REQUIRED_META if k not in data]
    if missing:
        raise _fail(name, f"ground truth needs {missing} (one value per person)")
    meta = {k: _numeric(data[k], k, (), ids, name).astype(np.float64) for k in GT_FLOAT_META if k in data}
    for key in GT_FLAG_META:
        if key in data:
            arr = data[key]
            if arr.dtype.kind not in "biu" or arr.shape != (len(ids),):
                raise _fail(name, f"'{key}' must be a ({len(ids)},) bool array, got dtype {arr.dtype} shape {arr.shape}")
            meta[key] = arr.astype(bool)
    meta.setdefault("kid", np.zeros(len(ids), bool))
    meta.setdefault("yaw", np.zeros(len(ids)))
    meta.setdefault("cam_yaw", np.zeros(len(ids)))
    if len(ids) and (meta["image_width"] <= 0).any():
        raise _fail(name, f"'image_width' of image {ids[np.argmax(meta['image_width'] <= 0)]!r} is not positive")
    return meta


def _per_image(values: np.ndarray, ids: np.ndarray, images: np.ndarray, key: str, name: str) -> np.ndarray:
    """The one value each image's people share; error naming the image where they differ."""
    lookup = {str(image): i for i, image in enumerate(images)}
    group = np.fromiter((lookup[str(i)] for i in ids), dtype=np.int64, count=len(ids))
    first = np.zeros(len(images), dtype=np.int64)
    first[group[::-1]] = np.arange(len(ids))[::-1]  # the first row of every image
    shared = values[first]
    differs = values != shared[group]
    if differs.any():
        raise _fail(name, f"'{key}' differs between the people of image {ids[np.argmax(differs)]!r}")
    return shared


def check_prediction_images(gt_images: np.ndarray, pred: PersonSet) -> None:
    """Every predicted image must be a GT image (an image may have no predictions at all)."""
    unknown = np.setdiff1d(np.unique(pred.image_ids), gt_images)
    if len(unknown):
        shown = ", ".join(repr(str(s)) for s in unknown[:5])
        raise _fail(pred.name, f"{len(unknown)} image id(s) not in this benchmark, e.g. {shown}")
