"""Offline prediction checker (``python -m evaluator check``): the upload checks, without GT.

NumPy only. Validates keys, shapes, dtypes and finiteness exactly as the server does on upload
(evaluator.formats) and, given the benchmark's public sample-id list, reports ids that are missing
or unknown.
"""
from __future__ import annotations

import os
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .formats import FormatError, load_sample_set

DEFAULT_SERVER = "http://127.0.0.1:8000"


@dataclass
class CheckReport:
    path: str
    num_samples: int = 0
    layout: str = ""  # "params" or "vertices"
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def read_sample_ids(path: str | os.PathLike) -> np.ndarray:
    """One id a line (the benchmark page's ``sample_ids.txt``); blank lines ignored."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return np.array([s.strip() for s in lines if s.strip()], dtype=str)


def fetch_sample_ids(slug: str, server: str = DEFAULT_SERVER, timeout: float = 30.0) -> np.ndarray:
    """The public sample-id list of benchmark ``slug``: ``./<slug>-sample_ids.txt`` when present
    (downloaded from the benchmark page), else fetched from ``server``."""
    local = Path(f"{slug}-sample_ids.txt")
    if local.is_file():
        return read_sample_ids(local)
    url = f"{server.rstrip('/')}/benchmarks/{slug}/sample_ids.txt"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) URL given by the user)
            text = response.read().decode("utf-8")
    except (urllib.error.URLError, OSError) as exc:
        raise OSError(f"cannot fetch the sample ids of benchmark '{slug}' from {url} ({exc}); download "
                      f"{slug}-sample_ids.txt from the benchmark page and pass --sample-ids FILE") from None
    return np.array([s.strip() for s in text.splitlines() if s.strip()], dtype=str)


def _listed(ids: np.ndarray) -> str:
    shown = ", ".join(repr(x) for x in ids[:5].tolist())
    return f"{shown}{'' if len(ids) <= 5 else ', ...'} ({len(ids)} in total)"


def check_predictions(path: str | os.PathLike, sample_ids: np.ndarray | None = None) -> CheckReport:
    report = CheckReport(str(path))
    try:
        pred = load_sample_set(path, role="pred")
    except FormatError as exc:
        report.problems.append(str(exc))
        return report
    report.num_samples, report.layout = len(pred), pred.kind
    if sample_ids is not None:
        expected = np.asarray(sample_ids, dtype=str)
        missing = np.setdiff1d(expected, pred.sample_ids)
        unknown = np.setdiff1d(pred.sample_ids, expected)
        if missing.size:
            report.problems.append(f"missing predictions for sample ids {_listed(missing)}")
        if unknown.size:
            report.problems.append(f"unknown sample ids (not in the benchmark) {_listed(unknown)}")
    return report
