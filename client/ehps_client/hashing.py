"""The sha256 of a file, read in 1 MiB blocks: one implementation for the client (direct uploads declare it),
the server's object store (metadata, cache keys) and the evaluator's GT mesh cache."""
from __future__ import annotations

import hashlib
import os

_BLOCK = 1 << 20


def file_sha256(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()
