"""Small builders for upload archives used across the test suites."""
from __future__ import annotations

import io
import zipfile

import numpy as np


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """An in-memory zip holding ``members`` ({name: bytes}) in the given order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def npz_zip_upload(members: dict[str, dict[str, np.ndarray]]) -> io.BytesIO:
    """A .zip of <benchmark slug>.npz members, as users upload for several benchmarks, ready to POST."""
    npz = {}
    for slug, arrays in members.items():
        data = io.BytesIO()
        np.savez(data, **arrays)
        npz[f"{slug}.npz"] = data.getvalue()
    upload = io.BytesIO(zip_bytes(npz))
    upload.name = "predictions.zip"
    return upload
