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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..multiperson_format import MultiPersonFormatError, load_person_set
from .base import GroundTruthImportError, ImportedGT

AGORA_SIZE = (3840, 2160)
SCHEMA = PROTOCOL = "agora-multiperson"
WHOLE_IMAGES_NOTE = "whole images: no person boxes (the method finds the people; how many each image has stays private)"


@dataclass
class ImportedPersons(ImportedGT):
    """GT of whole images: ``sample_ids`` are the images, ``arrays`` one row per person (with ``image_ids`` and the
    per-person flags), written as the multi-person GT ``.npz`` (docs/formats.md, "Multi-person images")."""

    def write(self, out_path: str | os.PathLike, split: str = "test") -> Path:
        out = Path(out_path)
        arrays = dict(self.arrays)
        arrays.setdefault("splits", np.full(len(arrays["image_ids"]), split))
        np.savez(out, **arrays)
        _checked(out)  # the file we wrote must pass our own checks
        return out

    def inputs_manifest(self) -> dict:
        from ehps_client.inputs import build_manifest

        return build_manifest(self.sample_ids, self.inputs, [WHOLE_IMAGES_NOTE])


def _checked(path: Path):
    try:
        return load_person_set(path, role="gt")
    except MultiPersonFormatError as exc:
        raise GroundTruthImportError(str(exc)) from None


def _people_notes(arrays: dict[str, np.ndarray]) -> list[str]:
    """What the import report says about the people (the scoring rules that apply to them: docs/metrics.md)."""
    n = len(arrays["image_ids"])
    valid = np.asarray(arrays["valid"], bool) if "valid" in arrays else np.ones(n, bool)
    kids = int(np.asarray(arrays.get("kid", np.zeros(n, bool)), bool).sum())
    occluded = int((np.asarray(arrays["occlusion"]) > 90).sum())
    return [f"{n} people in {len(np.unique(arrays['image_ids']))} images: {int(valid.sum())} valid, {n - int(valid.sum())} "
            f"invalid ({occluded} more than 90 % occluded; invalid people are left out of matching, never misses), {kids} kids"]


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


def parse_agora_multiperson(source: str | os.PathLike, image_width: int = AGORA_SIZE[0],
                            image_height: int = AGORA_SIZE[1]) -> ImportedPersons:
    """``import_benchmark --format agora-multiperson``: the AGORA GT dataframes (``.pkl`` / a folder of them;
    trusted operator files) or our multi-person ``.npz`` (validated, kept unchanged)."""
    source = Path(source)
    rows_read = None
    if source.suffix == ".npz":
        _checked(source)
        with np.load(source, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    else:
        files = sorted(source.glob("*.pkl")) if source.is_dir() else [source]
        if not files:
            raise GroundTruthImportError(f"{source}: no .pkl dataframes")
        rows = [r for f in files for r in _load_trusted(f)]
        rows_read = len(rows)
        arrays = agora_rows_to_arrays(rows, (image_width, image_height))
    images, first = np.unique(arrays["image_ids"], return_index=True)
    images = images[np.argsort(first, kind="stable")]
    splits = None
    if "splits" in arrays:
        lookup = dict(zip(arrays["image_ids"].astype(str), arrays["splits"].astype(str)))
        splits = np.array([lookup[str(i)] for i in images])
    sizes = np.unique(np.stack([arrays["image_width"], arrays["image_height"]], 1), axis=0)
    size_note = "image sizes " + ", ".join(f"{w:g} x {h:g}" for w, h in sizes[:3]) + (" ..." if len(sizes) > 3 else "")
    return ImportedPersons(images, arrays, schema=SCHEMA, protocol=PROTOCOL, splits=splits, rows_read=rows_read,
                           notes=[*_people_notes(arrays), size_note])


def import_agora_multiperson(source: str | os.PathLike, out_path: str | os.PathLike, split: str = "test",
                             image_width: int = AGORA_SIZE[0], image_height: int = AGORA_SIZE[1]) -> Path:
    """Read ``source`` (AGORA dataframe ``.pkl`` / folder of them, or our ``.npz``), write the GT ``.npz``
    to ``out_path`` and check it loads back; GroundTruthImportError naming the problem."""
    return parse_agora_multiperson(source, image_width, image_height).write(out_path, split=split)
