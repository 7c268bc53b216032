"""Data sources from config entries: ``{"type": "manifest"|"humandata"|"synthetic", "path": ..., ...}``."""
from __future__ import annotations

from pathlib import Path

from .sources import DataError, Record, load_humandata, load_manifest


def build_records(entries: list[dict], model_dir: str) -> list[Record]:
    records: list[Record] = []
    for entry in entries:
        kind, path = entry.get("type"), entry.get("path")
        if not path:
            raise DataError(f"data entry {entry}: missing 'path'")
        if kind == "synthetic":  # rendered on first use
            if not (Path(path) / "manifest.json").is_file():
                from .synthetic import make_synthetic_image_set
                make_synthetic_image_set(path, model_dir, int(entry.get("num", 500)), int(entry.get("seed", 0)))
            records += load_manifest(path)
        elif kind == "manifest":
            records += load_manifest(path, entry.get("gt"))
        elif kind == "humandata":
            records += load_humandata(path, entry.get("image_root", "."))
        else:
            raise DataError(f"data entry {entry}: type must be manifest, humandata or synthetic")
    return records
