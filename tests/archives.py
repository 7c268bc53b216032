"""Small builders for upload archives used across the test suites."""
from __future__ import annotations

import io
import zipfile


def zip_bytes(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """An in-memory zip holding ``members`` ({name: bytes}) in the given order."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()
