"""What the tasks need from the evaluator, with per-process caches.

A worker process evaluates many shards of the same benchmark in a row, so the body model, the GT and
the predictions are loaded once and kept, keyed by path *and* modification time/size: a re-imported
GT file or a re-uploaded predictions file is picked up without restarting the worker.

torch (through the body model and scoring) is imported inside the functions that score: the web process
imports workers.tasks to enqueue work and must not pay for torch.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from evaluator.formats import load_sample_set, match_samples
from evaluator.metric_sums import MetricSums

_SAMPLE_SET_CACHE_SIZE = 4  # GT + predictions of the one or two submissions a worker is busy with

_lock = threading.Lock()
_body_models: dict[tuple, Any] = {}
_sample_sets: OrderedDict[tuple, Any] = OrderedDict()
_matches: OrderedDict[tuple, np.ndarray] = OrderedDict()
_mesh_caches: OrderedDict[tuple, Any] = OrderedDict()  # GT sample sets with their stored meshes attached
_model_hashes: dict[int, str] = {}  # id(BodyModel) -> sha256 of its files (models live as long as the process)


def eval_device() -> str:
    """``settings.EVAL_DEVICE``, with ``auto`` meaning CUDA when this process can see a GPU."""
    import torch
    from django.conf import settings

    device = settings.EVAL_DEVICE
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _fingerprint(path: Path) -> tuple:
    """Identity of a file (or of a folder's files) that changes whenever its content is replaced."""
    path = Path(path)
    if path.is_dir():
        return (str(path.resolve()),) + tuple(_fingerprint(p) for p in sorted(path.rglob("*")) if p.is_file())
    stat = path.stat()
    return (str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def body_model():
    """The body model of ``settings.SMPLX_MODEL_DIR`` on the evaluation device, loaded once per process."""
    from django.conf import settings

    from evaluator.body_model import clear_body_model_cache, load_body_model

    model_dir = Path(settings.SMPLX_MODEL_DIR)
    device = eval_device()
    key = (_fingerprint(model_dir), device)
    with _lock:
        model = _body_models.get(key)
        if model is None:
            if _body_models:  # the folder changed: drop the stale model here and in the evaluator's own cache
                _body_models.clear()
                clear_body_model_cache()
            model = _body_models[key] = load_body_model(model_dir, device)
    return model


def warm_body_model() -> None:
    body_model()


def _remember(cache: OrderedDict, key: tuple, value: Any) -> Any:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _SAMPLE_SET_CACHE_SIZE:
        cache.popitem(last=False)
    return value


def sample_set(path: Path, role: str):
    """``evaluator.formats.load_sample_set`` (role ``gt`` or ``pred``) with an LRU cache; FormatError for bad files."""
    key = (role, *_fingerprint(path))
    with _lock:
        if key in _sample_sets:
            _sample_sets.move_to_end(key)
            return _sample_sets[key]
    loaded = load_sample_set(path, role=role)
    with _lock:
        return _remember(_sample_sets, key, loaded)


def matched_indices(gt_path: Path, pred_path: Path) -> np.ndarray:
    """For every GT sample (in GT order) the index of its prediction; FormatError if ids do not match."""
    key = (_fingerprint(gt_path), _fingerprint(pred_path))
    with _lock:
        if key in _matches:
            return _matches[key]
    indices = np.asarray(match_samples(sample_set(gt_path, "gt"), sample_set(pred_path, "pred")))
    with _lock:
        return _remember(_matches, key, indices)


def _model_hash(model) -> str:
    """sha256 of the body model's files, computed once per loaded model."""
    from evaluator.gt_meshes import model_files_hash

    with _lock:
        if id(model) in _model_hashes:
            return _model_hashes[id(model)]
    digest = model_files_hash(model.model_dir)
    with _lock:
        return _model_hashes.setdefault(id(model), digest)


def gt_with_meshes(gt_path: Path):
    """The GT sample set with its stored meshes attached (evaluator.gt_meshes), unless
    ``settings.EVAL_GT_MESH_CACHE`` is off or the GT holds vertices already."""
    from django.conf import settings

    from evaluator.gt_meshes import attach_mesh_cache

    gt = sample_set(gt_path, "gt")
    if not settings.EVAL_GT_MESH_CACHE or gt.kind != "params":
        return gt
    model = body_model()
    key = ("gt-meshes", id(model), *_fingerprint(gt_path))
    with _lock:
        if key in _mesh_caches:
            return _mesh_caches[key]
    cached = attach_mesh_cache(model, gt, gt_path, model_hash=_model_hash(model))
    with _lock:
        return _remember(_mesh_caches, key, cached)


def num_samples(gt_path: Path) -> int:
    return len(sample_set(gt_path, "gt"))


def score_range(
    gt_path: Path,
    pred_path: Path,
    start: int,
    stop: int,
    chunk_size: int,
    on_chunk: Callable[..., Any] | None = None,
) -> dict[str, MetricSums]:
    """Metric sums per split over GT samples ``[start, stop)``; ``on_chunk`` runs after every chunk."""
    from evaluator.scoring import score_samples

    gt = gt_with_meshes(gt_path)
    pred = sample_set(pred_path, "pred")
    pred_index = matched_indices(gt_path, pred_path)
    gt_index = np.arange(start, stop)
    return score_samples(body_model(), gt, pred, gt_index, pred_index[start:stop], chunk_size, on_chunk)


def clear_caches() -> None:
    with _lock:
        _body_models.clear()
        _sample_sets.clear()
        _matches.clear()
        _mesh_caches.clear()
        _model_hashes.clear()
