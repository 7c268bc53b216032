"""AGORA / BEDLAM whole-image ground truth -> our multi-person GT ``.npz`` (docs/formats.md).

Sources (trusted operator files; pickle is allowed here only, never for uploads):

- the AGORA ground-truth dataframes (``docs/gt_dataframe.md`` of agora_evaluation): a ``.pkl`` file
  or a folder of them, one row per image with per-person lists ``isValid``, ``occlusion``, ``kid``,
  ``Yaw``/``YawLocal``, ``gt_joints_2d``, ``gt_joints_3d``, ``gt_verts`` and the image's ``camYaw``.
  A pickled pandas DataFrame needs pandas installed; a pickled list of such row dicts does not.
- our own layout as a plain ``.npz`` (validated, written back unchanged).

Yaw: ``YawLocal`` when present and not NaN, else ``Yaw`` (as ``compute_avg_error``). ``valid`` is
``isValid`` (AGORA sets it from 0-90 % occlusion). Image size: the official default 3840 x 2160
unless given.
"""
from __future__ import annotations

import math
import os
import pickle
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..multiperson_format import MultiPersonFormatError, load_person_set
from .base import GroundTruthImportError

AGORA_SIZE = (3840, 2160)


def _rows(obj: Any) -> list[dict]:
    if hasattr(obj, "to_dict"):  # a pandas DataFrame
        return obj.to_dict("records")
    if isinstance(obj, list) and all(isinstance(r, dict) for r in obj):
        return obj
    raise GroundTruthImportError(f"expected an AGORA dataframe or a list of row dicts, got {type(obj).__name__}")


def _load_trusted(path: Path) -> list[dict]:
    try:
        with open(path, "rb") as f:  # operator-provided GT, never user data
            return _rows(pickle.load(f, encoding="latin1"))
    except ModuleNotFoundError as exc:
        raise GroundTruthImportError(f"{path.name}: needs {exc.name} to read (pip install {exc.name})") from None
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise GroundTruthImportError(f"{path.name}: not a readable pickle ({exc})") from None


def _yaw(row: dict, j: int) -> float:
    for key in ("YawLocal", "Yaw"):
        values = row.get(key)
        if values is not None and not math.isnan(float(values[j])):
            return float(values[j])
    raise GroundTruthImportError(f"image {row.get('imgPath')!r}: person {j} has neither YawLocal nor Yaw")


def agora_rows_to_arrays(rows: Iterable[dict], image_size: tuple[int, int] = AGORA_SIZE) -> dict[str, np.ndarray]:
    """Per-image rows -> our per-person arrays (image id = ``imgPath``)."""
    out: dict[str, list] = {k: [] for k in ("image_ids", "joints2d", "vertices", "joints3d", "occlusion", "valid",
                                            "kid", "yaw", "cam_yaw", "image_width", "image_height")}
    for row in rows:
        image = str(row["imgPath"])
        for j, valid in enumerate(row["isValid"]):
            try:
                out["joints2d"].append(np.asarray(row["gt_joints_2d"][j], np.float64)[:, :2])
                out["vertices"].append(np.asarray(row["gt_verts"][j], np.float32).reshape(-1, 3))
                if "gt_joints_3d" in row:
                    out["joints3d"].append(np.asarray(row["gt_joints_3d"][j], np.float32).reshape(-1, 3)[:127])
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise GroundTruthImportError(f"image {image!r} person {j}: {exc}") from None
            out["image_ids"].append(image)
            out["occlusion"].append(float(row["occlusion"][j]))
            out["valid"].append(bool(valid))
            out["kid"].append(bool(row.get("kid", [False] * (j + 1))[j]))
            out["yaw"].append(_yaw(row, j))
            out["cam_yaw"].append(float(row.get("camYaw", 0.0)))
            out["image_width"].append(float(image_size[0]))
            out["image_height"].append(float(image_size[1]))
    if not out["image_ids"]:
        raise GroundTruthImportError("no people in the source")
    if not out["joints3d"]:
        del out["joints3d"]
    try:
        return {k: np.asarray(v, dtype=str if k == "image_ids" else None) if k != "joints2d" else np.stack(v)
                for k, v in out.items()}
    except ValueError as exc:  # ragged joints between people
        raise GroundTruthImportError(f"people differ in array shapes: {exc}") from None


def import_agora_multiperson(source: str | os.PathLike, out_path: str | os.PathLike, split: str = "test",
                             image_width: int = AGORA_SIZE[0], image_height: int = AGORA_SIZE[1]) -> Path:
    """Read ``source`` (AGORA dataframe ``.pkl`` / folder of them, or our ``.npz``), write the GT ``.npz``
    to ``out_path`` and check it loads back; GroundTruthImportError naming the problem."""
    source, out = Path(source), Path(out_path)
    if source.suffix == ".npz":
        try:
            load_person_set(source, role="gt")
        except MultiPersonFormatError as exc:
            raise GroundTruthImportError(str(exc)) from None
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        files = sorted(source.glob("*.pkl")) if source.is_dir() else [source]
        if not files:
            raise GroundTruthImportError(f"{source}: no .pkl dataframes")
        arrays = agora_rows_to_arrays([r for f in files for r in _load_trusted(f)], (image_width, image_height))
    arrays.setdefault("splits", np.full(len(arrays["image_ids"]), split))
    np.savez(out, **arrays)
    try:
        load_person_set(out, role="gt")
    except MultiPersonFormatError as exc:
        raise GroundTruthImportError(str(exc)) from None
    return out
