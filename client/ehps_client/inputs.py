"""A benchmark's public inputs manifest: which image and which person each sample id is (JSON, NumPy only).

Written at import from the official annotation files (evaluator.importers), served beside the sample-id list
(``/benchmarks/<slug>/inputs.json``, ``/api/v1/benchmarks/<slug>/inputs/``) and read by the checker. Per id, in
ground-truth order: ``image`` (path relative to the published image archive), ``image_size`` [W, H] px, ``box``
[x, y, w, h] px in the full image (the box the official protocol crops the person with), and where the protocol
projects with a camera, ``focal`` [fx, fy] and ``princpt`` [cx, cy] px. Nothing else is allowed in a sample:
never a ground-truth value (docs/security.md says what a box and a camera reveal). Header keys beside ``samples``:
``benchmark`` (slug) and, where the benchmark's protocol needs prediction keys beyond its layout's own,
``required_prediction_keys`` (e.g. BEDLAM: vertices, joints3d), which ``ehps check`` then requires too.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "ehps-inputs/1"
FIELDS = {"image": None, "image_size": 2, "box": 4, "focal": 2, "princpt": 2}  # name -> number of floats (None: str)
DESCRIPTION = {
    "image": "path relative to the published image archive",
    "image_size": "[width, height] in pixels",
    "box": "[x, y, w, h] in pixels of the full image: the box the official protocol crops the person with",
    "focal": "[fx, fy] pinhole focal lengths in pixels the protocol projects with",
    "princpt": "[cx, cy] principal point in pixels the protocol projects with",
}


REQUIRED_KEYS = "required_prediction_keys"


class ManifestError(ValueError):
    """The manifest is not an inputs manifest; the message names the sample and the field."""


def build_manifest(sample_ids, inputs: dict[str, Any] | None = None, notes: list[str] | tuple[str, ...] = ()) -> dict:
    """The manifest of ``sample_ids`` with per-sample ``inputs`` (arrays of len(sample_ids); rows may hold NaN or
    an empty path where the source does not say)."""
    ids = [str(i) for i in np.asarray(sample_ids).tolist()]
    inputs = dict(inputs or {})
    unknown = sorted(set(inputs) - set(FIELDS))
    if unknown:
        raise ManifestError(f"fields {unknown} are not inputs; allowed: {sorted(FIELDS)}")
    samples = []
    for row, sample_id in enumerate(ids):
        sample: dict[str, Any] = {"id": sample_id}
        for name, size in FIELDS.items():
            if name not in inputs:
                continue
            value = inputs[name][row]
            if size is None:
                if str(value):
                    sample[name] = str(value)
            else:
                floats = [float(v) for v in np.asarray(value, dtype=np.float64).reshape(size)]
                if all(math.isfinite(v) for v in floats):
                    sample[name] = [round(v, 4) for v in floats]
        samples.append(sample)
    fields = {name: DESCRIPTION[name] for name in FIELDS if name in inputs}
    return {"format": FORMAT, "fields": fields, "notes": list(notes), "samples": samples}


def validate_manifest(manifest: Any) -> dict:
    """``manifest`` if it is a well-formed inputs manifest, else ManifestError naming what is wrong."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ManifestError(f"not an inputs manifest (expected \"format\": \"{FORMAT}\")")
    samples = manifest.get("samples")
    if not isinstance(samples, list):
        raise ManifestError("\"samples\" must be a list")
    required = manifest.get(REQUIRED_KEYS, [])
    if not isinstance(required, list) or not all(isinstance(k, str) and k for k in required):
        raise ManifestError(f"\"{REQUIRED_KEYS}\" must be a list of key names")
    seen: set[str] = set()
    for k, sample in enumerate(samples):
        if not isinstance(sample, dict) or not isinstance(sample.get("id"), str) or not sample["id"]:
            raise ManifestError(f"sample {k}: needs a non-empty string \"id\"")
        if sample["id"] in seen:
            raise ManifestError(f"sample {sample['id']!r} listed twice")
        seen.add(sample["id"])
        extra = sorted(set(sample) - set(FIELDS) - {"id"})
        if extra:
            raise ManifestError(f"sample {sample['id']!r}: unknown field(s) {extra}; allowed: {sorted(FIELDS)}")
        for name, size in FIELDS.items():
            if name not in sample:
                continue
            value = sample[name]
            ok = isinstance(value, str) if size is None else (
                isinstance(value, list) and len(value) == size
                and all(isinstance(v, (int, float)) and math.isfinite(v) for v in value))
            if not ok:
                raise ManifestError(f"sample {sample['id']!r}: {name!r} must be "
                                    f"{'a string' if size is None else f'{size} finite numbers'}")
    return manifest


def write_manifest(path: str | os.PathLike, manifest: dict, **header: Any) -> Path:
    """Write ``manifest`` (with extra header keys, e.g. benchmark=slug) as JSON after validating it."""
    path = Path(path)
    path.write_text(json.dumps({**header, **validate_manifest(manifest)}, indent=1, ensure_ascii=False))
    return path


def read_manifest(path: str | os.PathLike) -> dict:
    try:
        manifest = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError(f"{Path(path).name}: not readable as JSON ({exc})") from None
    try:
        return validate_manifest(manifest)
    except ManifestError as exc:
        raise ManifestError(f"{Path(path).name}: {exc}") from None


def manifest_ids(manifest: dict) -> np.ndarray:
    """The sample ids, in the manifest's (ground-truth) order."""
    return np.array([s["id"] for s in manifest["samples"]], dtype=str)


def manifest_required_keys(manifest: dict) -> tuple[str, ...]:
    """The prediction keys the benchmark needs beyond its layout's own (none when the manifest does not say)."""
    return tuple(manifest.get(REQUIRED_KEYS, ()))
