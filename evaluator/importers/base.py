"""What every ground-truth importer returns, and how it is written as our GT ``.npz``."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..formats import SAMPLE_IDS, SPLITS, load_sample_set


IDS_ONLY_NOTE = "ids only: the source gives no image or box information (the host publishes where the images are)"


class GroundTruthImportError(ValueError):
    """A benchmark's published file is missing, malformed or not the expected format; the message
    names the file and the key/row."""


@dataclass
class ImportedGT:
    """Parsed GT in our layout: ``arrays`` (params or ``vertices``) and ``meta`` (camera, gender,
    flags) per sample, for ``schema`` (evaluator.formats.SCHEMAS) and a default ``protocol``.
    ``skipped`` counts the rows the official filtering dropped, by reason; ``adjusted`` the samples whose
    values the official GT step replaced (e.g. large betas zeroed), by reason; ``filled`` the samples
    given a default for a key the source lacks, by key (the import report prints all three);
    ``rows_read`` how many rows the source had (None: not counted)."""

    sample_ids: np.ndarray
    arrays: dict[str, np.ndarray]
    schema: str
    protocol: str
    meta: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    splits: np.ndarray | None = None
    adjusted: dict[str, int] = field(default_factory=dict)
    filled: dict[str, int] = field(default_factory=dict)
    rows_read: int | None = None
    notes: list[str] = field(default_factory=list)  # official steps that could not run, said in the report
    # Public model inputs per sample (ehps_client.inputs.FIELDS: image, image_size, box, focal, princpt), never GT.
    inputs: dict[str, np.ndarray] = field(default_factory=dict)

    def inputs_manifest(self) -> dict:
        """The public inputs manifest of these samples (ehps_client.inputs), in sample order."""
        from ehps_client.inputs import build_manifest

        return build_manifest(self.sample_ids, self.inputs, [] if "box" in self.inputs else [IDS_ONLY_NOTE] if
                              not self.inputs else ["no person boxes: the source does not give them"])

    def __len__(self) -> int:
        return len(self.sample_ids)

    def write(self, out_path: str | os.PathLike, split: str = "test") -> Path:
        """Write the GT ``.npz`` (float32 geometry, float64 cameras) and check it loads back."""
        if len(self) == 0:
            raise GroundTruthImportError(f"no samples left after filtering (skipped: {self.skipped})")
        out = Path(out_path)
        splits = self.splits if self.splits is not None else np.full(len(self), split)
        geometry = {k: np.asarray(v, dtype=np.float32) for k, v in self.arrays.items()}
        np.savez(out, **{SAMPLE_IDS: np.asarray(self.sample_ids, dtype=str), SPLITS: np.asarray(splits, dtype=str)},
                 **geometry, **self.meta)
        load_sample_set(out, role="gt", schema=self.schema)  # the file we wrote must pass our own checks
        return out


def count(counts: dict[str, int], reason: str, n: int = 1) -> None:
    if n:
        counts[reason] = counts.get(reason, 0) + n


def rodrigues(axis_angle) -> np.ndarray:
    """3x3 rotation matrix of an axis-angle vector (what cv2.Rodrigues returns)."""
    r = np.asarray(axis_angle, dtype=np.float64).reshape(3)
    theta = np.linalg.norm(r)
    if theta < 1e-12:
        return np.eye(3)
    k = r / theta
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(theta) * K + (1 - np.cos(theta)) * K @ K


def sanitize_bbox(bbox, width: float, height: float) -> np.ndarray | None:
    """SMPLer-X ``sanitize_bbox``: clip an (x, y, w, h) box to the image; None if nothing is left."""
    x, y, w, h = (float(v) for v in bbox)
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1, x1 + max(0.0, w - 1))
    y2 = min(height - 1, y1 + max(0.0, h - 1))
    if w * h > 0 and x2 > x1 and y2 > y1:
        return np.array([x1, y1, x2 - x1, y2 - y1])
    return None


INPUT_ASPECT = 384 / 512  # SMPLer-X input_img_shape (512, 384): width / height


def process_bbox(bbox, width: float, height: float, ratio: float = 1.25) -> np.ndarray | None:
    """SMPLer-X ``process_bbox``: sanitized box grown to the 3:4 input aspect, times ``ratio``."""
    box = sanitize_bbox(bbox, width, height)
    if box is None:
        return None
    w, h = box[2], box[3]
    cx, cy = box[0] + w / 2, box[1] + h / 2
    if w > INPUT_ASPECT * h:
        h = w / INPUT_ASPECT
    elif w < INPUT_ASPECT * h:
        w = h * INPUT_ASPECT
    w, h = w * ratio, h * ratio
    return np.array([cx - w / 2, cy - h / 2, w, h], dtype=np.float32)
