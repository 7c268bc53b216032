"""Ground-truth importers: each benchmark's published preprocessed files -> our GT ``.npz``.

These are trusted operator imports (``manage.py import_benchmark --format ...`` calls them):
pickle is allowed only in the HumanData reader, never for user uploads. Each parser returns an
``ImportedGT`` (arrays, meta, schema, default protocol, what the official filtering skipped);
``import_ground_truth`` parses and writes in one call. See docs/formats.md.
"""
from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any, Callable

from .agora import parse_agora
from .agora_multiperson import parse_agora_multiperson
from .base import GroundTruthImportError, ImportedGT, process_bbox, rodrigues, sanitize_bbox
from .ehf import parse_ehf
from .humandata import parse_humandata
from .ply import read_ply_vertices
from .pw3d import parse_3dpw
from .ubody import parse_ubody


def parse_npz(source: str | os.PathLike, schema: str = "smplx", protocol: str = "smplx-generic") -> ImportedGT:
    """Our own GT layout, validated (for a benchmark already converted elsewhere)."""
    from ..formats import FormatError, load_sample_set

    if schema in NPZ_PARSERS:  # a GT layout with its own reader (whole images: one row per person)
        return NPZ_PARSERS[schema](source)

    try:
        s = load_sample_set(source, role="gt", schema=schema)
    except FormatError as exc:
        raise GroundTruthImportError(str(exc)) from None
    return ImportedGT(s.sample_ids, dict(s.arrays), schema=schema, protocol=protocol, meta=dict(s.meta),
                      splits=s.splits)


PARSERS: dict[str, Callable[..., ImportedGT]] = {
    "humandata": parse_humandata, "ehf": parse_ehf, "agora": parse_agora, "3dpw": parse_3dpw,
    "ubody": parse_ubody, "agora-multiperson": parse_agora_multiperson, "npz": parse_npz,
}
NPZ_PARSERS: dict[str, Callable[..., ImportedGT]] = {"agora-multiperson": parse_agora_multiperson}
IMPORT_FORMATS: tuple[str, ...] = tuple(PARSERS)


def parse_ground_truth(fmt: str, source: str | os.PathLike, **options: Any) -> ImportedGT:
    """``PARSERS[fmt](source, **options)``; GroundTruthImportError for an unknown format or option."""
    if fmt not in PARSERS:
        raise GroundTruthImportError(f"unknown format {fmt!r}; known: {', '.join(IMPORT_FORMATS)}")
    accepted = list(inspect.signature(PARSERS[fmt]).parameters)[1:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise GroundTruthImportError(f"format {fmt!r} takes no option(s) {unknown}; it takes {accepted}")
    return PARSERS[fmt](source, **options)


def import_ground_truth(fmt: str, source: str | os.PathLike, out_path: str | os.PathLike, split: str = "test",
                        **options: Any) -> ImportedGT:
    """Parse ``source`` in format ``fmt`` and write our GT ``.npz`` to ``out_path``."""
    gt = parse_ground_truth(fmt, source, **options)
    gt.write(Path(out_path), split=split)
    return gt


__all__ = ["IMPORT_FORMATS", "PARSERS", "GroundTruthImportError", "ImportedGT", "import_ground_truth", "parse_3dpw",
           "parse_agora", "parse_agora_multiperson", "parse_ehf", "parse_ground_truth", "parse_humandata", "parse_npz", "parse_ubody",
           "process_bbox", "read_ply_vertices", "rodrigues", "sanitize_bbox"]
