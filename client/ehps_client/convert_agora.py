"""``ehps convert-agora predictions.zip -o pred.npz``: the official AGORA / BEDLAM per-person ``.pkl`` zip
-> one multi-person predictions ``.npz`` (docs/formats.md, "Multi-person images").

Runs on the researcher's machine, on the researcher's own files: this is the only place a ``.pkl`` is
unpickled; the server takes the ``.npz`` only (``allow_pickle=False``). NumPy only.

Each ``<image>_personId_<k>.pkl`` holds ``joints`` (24, 2) px and either ``verts`` (10475, 3) m
(+ ``allSmplJoints3d`` (127, 3)) or ``params`` (SMPL-X, axis-angle: ``pose2rot`` true). The image id is
``<image>.png`` as the official loader derives it; people keep their ``personId`` order (the official
loader takes file-system order; the matcher breaks cost ties by it).
"""
from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import numpy as np

NAME = re.compile(r"^(?P<image>.+)_personId_(?P<k>\d+)\.pkl$")
PARAM_KEYS = {"global_orient": 3, "body_pose": 63, "left_hand_pose": 45, "right_hand_pose": 45, "jaw_pose": 3,
              "leye_pose": 3, "reye_pose": 3, "betas": 10, "expression": 10, "transl": 3}


class ConvertError(ValueError):
    """A prediction file cannot be converted; the message names the file and key."""


def _person(name: str, d: dict) -> tuple[dict[str, np.ndarray], list[str]]:
    notes = []
    if not isinstance(d, dict) or "joints" not in d:
        raise ConvertError(f"{name}: expected a dict with 'joints' (24, 2)")
    out = {"joints2d": np.asarray(d["joints"], np.float32).reshape(-1, 2)[:24]}
    if out["joints2d"].shape != (24, 2):
        raise ConvertError(f"{name}: 'joints' has {out['joints2d'].shape[0]} joints, expected 24")
    if "verts" in d:
        out["vertices"] = np.asarray(d["verts"], np.float32).reshape(-1, 3)
        if "allSmplJoints3d" in d:
            out["joints3d"] = np.asarray(d["allSmplJoints3d"], np.float32).reshape(-1, 3)[:127]
        return out, notes
    if "params" not in d:
        raise ConvertError(f"{name}: needs 'verts' or 'params'")
    if not bool(d.get("pose2rot", True)):
        raise ConvertError(f"{name}: rotation-matrix params (pose2rot False) are not supported; give axis-angle")
    for key in ("gender", "age"):
        if key in d and str(d[key]) not in ("neutral", "adult"):
            notes.append(f"{key}={d[key]} ignored (the neutral adult SMPL-X model is used)")
    params = d["params"]
    for key, size in PARAM_KEYS.items():
        if key not in params:
            if key in ("leye_pose", "reye_pose"):
                continue
            raise ConvertError(f"{name}: params lack '{key}'")
        value = np.asarray(params[key], np.float32).reshape(-1)
        if key == "betas" and value.size > size:
            raise ConvertError(f"{name}: {value.size} betas; the server's model takes {size}")
        if value.size != size:
            raise ConvertError(f"{name}: params '{key}' has {value.size} values, expected {size}")
        out[key] = value
    return out, notes


def convert_agora(zip_path: str | Path, out_path: str | Path) -> dict[str, int | list[str]]:
    """Write the ``.npz``; returns {"people", "images", "notes"}. ConvertError naming the file on a bad one."""
    rows: list[tuple[str, int, dict]] = []
    notes: set[str] = set()
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            base = Path(info.filename).name
            match = NAME.match(base)
            if info.is_dir() or not match:
                continue
            with zf.open(info) as f:
                try:
                    data = pickle.load(f, encoding="latin1")  # the researcher's own file, on their machine
                except Exception as exc:  # noqa: BLE001 - any unpickling failure names the file
                    raise ConvertError(f"{base}: not a readable pickle ({exc})") from None
            person, person_notes = _person(base, data)
            notes.update(person_notes)
            rows.append((match["image"] + ".png", int(match["k"]), person))
    if not rows:
        raise ConvertError(f"{zip_path}: no <image>_personId_<k>.pkl files")
    rows.sort(key=lambda r: (r[0], r[1]))
    keys = set(rows[0][2])
    for image, k, person in rows:
        if set(person) != keys:
            raise ConvertError(f"{image} person {k}: keys {sorted(person)} differ from the first file's {sorted(keys)}")
    arrays = {"image_ids": np.array([r[0] for r in rows])}
    for key in sorted(keys):
        try:
            arrays[key] = np.stack([r[2][key] for r in rows])
        except ValueError:
            raise ConvertError(f"'{key}' differs in shape between people") from None
    np.savez(out_path, **arrays)
    return {"people": len(rows), "images": len({r[0] for r in rows}), "notes": sorted(notes)}
