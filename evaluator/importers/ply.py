"""Vertex positions from a PLY file (ASCII or binary), enough for mesh registrations like EHF's."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .base import GroundTruthImportError

_TYPES = {"char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
          "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
          "float": "f4", "float32": "f4", "double": "f8", "float64": "f8"}


def read_ply_vertices(path: str | os.PathLike) -> np.ndarray:
    """(N, 3) float64 x, y, z of the ``vertex`` element (which must come first in binary files)."""
    path = Path(path)
    with open(path, "rb") as f:
        if f.readline().strip() != b"ply":
            raise GroundTruthImportError(f"{path.name}: not a PLY file")
        fmt, elements, current = None, [], None
        while True:
            line = f.readline()
            if not line:
                raise GroundTruthImportError(f"{path.name}: PLY header has no end_header")
            words = line.decode("ascii", "replace").split()
            if not words or words[0] in ("comment", "obj_info"):
                continue
            if words[0] == "format":
                fmt = words[1]
            elif words[0] == "element":
                current = (words[1], int(words[2]), [])
                elements.append(current)
            elif words[0] == "property" and current is not None:
                current[2].append(("list" if words[1] == "list" else _TYPES.get(words[1]), words[-1]))
            elif words[0] == "end_header":
                break
        if not elements or elements[0][0] != "vertex":
            raise GroundTruthImportError(f"{path.name}: the first PLY element must be 'vertex'")
        _, n, props = elements[0]
        names = [p[1] for p in props]
        if not {"x", "y", "z"} <= set(names) or any(t in (None, "list") for t, _ in props):
            raise GroundTruthImportError(f"{path.name}: vertex element needs scalar x, y, z properties")
        if fmt == "ascii":
            rows = [f.readline().split() for _ in range(n)]
            try:
                data = np.array(rows, dtype=np.float64)[:, [names.index(c) for c in "xyz"]]
            except (ValueError, IndexError):
                raise GroundTruthImportError(f"{path.name}: malformed ASCII vertex rows") from None
        elif fmt in ("binary_little_endian", "binary_big_endian"):
            order = "<" if fmt == "binary_little_endian" else ">"
            dtype = np.dtype([(name, order + t) for t, name in props])
            raw = f.read(dtype.itemsize * n)
            if len(raw) < dtype.itemsize * n:
                raise GroundTruthImportError(f"{path.name}: truncated PLY vertex data")
            rec = np.frombuffer(raw, dtype=dtype, count=n)
            data = np.stack([rec[c].astype(np.float64) for c in "xyz"], axis=1)
        else:
            raise GroundTruthImportError(f"{path.name}: unsupported PLY format {fmt!r}")
    return data
