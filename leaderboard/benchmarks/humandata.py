"""Trusted admin import of mmhuman3d HumanData test files into our GT format.

The parsing (SMPLer-X / SMPLest-X preprocessing, the only place pickle is allowed) lives in
``evaluator.importers.humandata``; this module keeps the file-to-file entry point the
``import_benchmark`` command uses.
"""
from __future__ import annotations

import os

from evaluator.importers.base import GroundTruthImportError as HumanDataError  # noqa: F401  (re-exported)
from evaluator.importers.humandata import BETAS_LIMIT, hand_means, parse_humandata  # noqa: F401


def convert_humandata(
    source: str | os.PathLike, out_path: str | os.PathLike, model_dir: str | os.PathLike | None = None,
    split: str = "test", sample_interval: int = 1,
) -> int:
    """Write our GT ``.npz`` (sample_ids, splits, params) from a HumanData file; returns the sample count.

    ``sample_interval`` keeps every k-th HumanData row (SMPLer-X evaluates UBody every 100th, ARCTIC every 10th).
    """
    gt = parse_humandata(source, model_dir=model_dir, sample_interval=sample_interval)
    gt.write(out_path, split=split)
    return len(gt)
