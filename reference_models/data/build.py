"""Data sources from config entries: ``{"type": "manifest"|"humandata"|"synthetic", "path": ..., ...}``.

Optional per entry: ``name`` (the dataset's name in the mix and the training log; default: the file or folder
name) and ``sample_interval`` (keep every k-th row, like the official ``<Dataset>_train_sample_interval``).
"""
from __future__ import annotations

from pathlib import Path

from .humandata import load_humandata
from .sources import DataError, Record, load_manifest


def entry_name(entry: dict) -> str:
    path = Path(entry["path"])
    return str(entry.get("name") or (path.stem if path.suffix else path.name))


def load_entry(entry: dict, model_dir: str) -> list[Record]:
    """Records of one config entry, tagged with the entry's dataset name."""
    kind, path = entry.get("type"), entry.get("path")
    if not path:
        raise DataError(f"data entry {entry}: missing 'path'")
    name, interval = entry_name(entry), int(entry.get("sample_interval", 1))
    if interval < 1:
        raise DataError(f"data entry {entry}: sample_interval must be >= 1")
    if kind == "synthetic":  # rendered on first use
        if not (Path(path) / "manifest.json").is_file():
            from .synthetic import make_synthetic_image_set
            make_synthetic_image_set(path, model_dir, int(entry.get("num", 500)), int(entry.get("seed", 0)),
                                     domain=entry.get("domain"))
        records = load_manifest(path)
    elif kind == "manifest":
        records = load_manifest(path, entry.get("gt"))
    elif kind == "humandata":
        return load_humandata(path, entry.get("image_root", "."), name=name, sample_interval=interval,
                              model_dir=model_dir)
    else:
        raise DataError(f"data entry {entry}: type must be manifest, humandata or synthetic")
    records = records[::interval]
    for rec in records:
        rec.dataset = name
        if kind == "synthetic" and entry.get("domain", {}).get("hands") is False:
            rec.parts.update(lhand=0.0, rhand=0.0)  # a domain without hand labels
    return records


def build_records(entries: list[dict], model_dir: str) -> list[Record]:
    return [rec for entry in entries for rec in load_entry(entry, model_dir)]
