"""What the tasks need from the evaluator, with per-process caches.

Every benchmark is scored by its own protocol (``Benchmark.get_protocol()``, evaluator.protocols) with the body
models that protocol needs (SMPL-X always; SMPL from ``settings.SMPL_MODEL_DIR`` for 3DPW). A worker process
evaluates many shards of the same benchmark in a row, so the body models, the GT and the predictions are loaded
once and kept, keyed by path *and* modification time/size: a re-imported GT file or a re-uploaded predictions
file is picked up without restarting the worker.

torch (through the body model and scoring) is imported inside the functions that score: the web process
imports workers.tasks to enqueue work and must not pay for torch.
"""
from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from evaluator.formats import load_sample_set
from evaluator.metric_sums import MetricSums

if TYPE_CHECKING:
    from evaluator.protocols import Protocol

SMPLX_SCHEMAS = frozenset({"smplx", "smplx-camera"})  # GT layouts posed with the SMPL-X model (mesh cache applies)
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


def _load_models(protocol: "Protocol | None") -> Any:
    """SMPL-X (and SMPL when ``protocol`` needs it) on the evaluation device, loaded once per process."""
    from django.conf import settings

    from evaluator.body_model import clear_body_model_cache
    from evaluator.protocols import load_protocol_models
    from evaluator.smpl import clear_smpl_model_cache

    needs_smpl = bool(protocol is not None and protocol.needs_smpl)
    smplx_dir = Path(settings.SMPLX_MODEL_DIR)
    smpl_dir = Path(settings.SMPL_MODEL_DIR or smplx_dir) if needs_smpl else None
    device = eval_device()
    key = (_fingerprint(smplx_dir), _fingerprint(smpl_dir) if smpl_dir else None, device)
    with _lock:
        models = _body_models.get(key)
        if models is None:
            stale = [k for k in _body_models if k[0] != key[0] or (smpl_dir and k[1] not in (None, key[1]))]
            if stale:  # a folder changed: drop the stale models here and in the evaluator's own cache
                for k in stale:
                    del _body_models[k]
                clear_body_model_cache()
                clear_smpl_model_cache()
            models = _body_models[key] = load_protocol_models(
                protocol or "smplx-generic", smplx_dir, device, smpl_model_dir=smpl_dir)
    return models


def protocol_models(protocol: "Protocol"):
    """The ``ProtocolModels`` ``protocol`` scores with."""
    return _load_models(protocol)


def body_model():
    """The SMPL-X body model of ``settings.SMPLX_MODEL_DIR`` on the evaluation device, loaded once per process."""
    return _load_models(None).smplx


def warm_body_model() -> None:
    body_model()


def _remember(cache: OrderedDict, key: tuple, value: Any) -> Any:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _SAMPLE_SET_CACHE_SIZE:
        cache.popitem(last=False)
    return value


def _cached_load(key: tuple, load: Callable[[], Any]) -> Any:
    with _lock:
        if key in _sample_sets:
            _sample_sets.move_to_end(key)
            return _sample_sets[key]
    loaded = load()
    with _lock:
        return _remember(_sample_sets, key, loaded)


def sample_set(path: Path, role: str, schema: str = "smplx"):
    """``evaluator.formats.load_sample_set`` (role ``gt`` or ``pred``) with an LRU cache; FormatError for bad files.

    ``schema`` is the GT layout of the benchmark's protocol (``Protocol.gt_schema``); predictions are SMPL-X.
    """
    return _cached_load((role, schema, *_fingerprint(path)), lambda: load_sample_set(path, role=role, schema=schema))


def ground_truth(protocol: "Protocol", gt_path: Path):
    """The benchmark's GT as its protocol reads it (``Protocol.load_gt``), cached; FormatError for a bad file."""
    return _cached_load(("gt", protocol.gt_schema, *_fingerprint(gt_path)), lambda: protocol.load_gt(gt_path))


def predictions(protocol: "Protocol", gt_path: Path, pred_path: Path):
    """The predictions file as the protocol scores it (``Protocol.load_predictions``), cached; FormatError."""
    key = ("pred", protocol.name, json.dumps(protocol.options, sort_keys=True), *_fingerprint(pred_path))
    return _cached_load(key, lambda: protocol.load_predictions(pred_path, ground_truth(protocol, gt_path)))


def matched_indices(protocol: "Protocol", gt_path: Path, pred_path: Path) -> np.ndarray | None:
    """``Protocol.prediction_index``: for every GT sample (in GT order) the index of its prediction (None for a
    protocol that pairs while scoring); FormatError if the predictions do not fit the GT."""
    key = (protocol.name, protocol.gt_schema, _fingerprint(gt_path), _fingerprint(pred_path))
    with _lock:
        if key in _matches:
            return _matches[key]
    indices = protocol.prediction_index(ground_truth(protocol, gt_path), predictions(protocol, gt_path, pred_path))
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


def gt_with_meshes(gt_path: Path, gt_schema: str = "smplx"):
    """The GT sample set with its stored meshes attached (evaluator.gt_meshes), unless
    ``settings.EVAL_GT_MESH_CACHE`` is off, the GT holds vertices already or is not SMPL-X (3DPW's SMPL)."""
    from django.conf import settings

    from evaluator.gt_meshes import attach_mesh_cache

    gt = sample_set(gt_path, "gt", gt_schema)
    if not settings.EVAL_GT_MESH_CACHE or gt.kind != "params" or gt_schema not in SMPLX_SCHEMAS:
        return gt
    model = body_model()
    key = ("gt-meshes", gt_schema, id(model), *_fingerprint(gt_path))
    with _lock:
        if key in _mesh_caches:
            return _mesh_caches[key]
    cached = attach_mesh_cache(model, gt, gt_path, model_hash=_model_hash(model))
    with _lock:
        return _remember(_mesh_caches, key, cached)


def num_samples(protocol: "Protocol", gt_path: Path) -> int:
    """What shards cut: samples, or whole images for a multi-person GT (its ``sample_ids`` are the images)."""
    return len(ground_truth(protocol, gt_path).sample_ids)


def protocol_stamp(protocol: "Protocol") -> dict[str, object]:
    """The ShardResult/BenchmarkResult fields that say what computed the numbers."""
    from evaluator.protocols import EVALUATOR_VERSION

    return {"protocol": protocol.name, "protocol_version": protocol.version,
            "protocol_options": dict(protocol.options), "evaluator_version": EVALUATOR_VERSION}


@dataclass(frozen=True)
class ShardScores:
    sums: dict[str, MetricSums]  # per split
    per_sample: dict[str, np.ndarray] | None  # "sample_id", "split" and every metric, in GT order (None: not kept)


def score_range(
    protocol: "Protocol",
    gt_path: Path,
    pred_path: Path,
    start: int,
    stop: int,
    chunk_size: int,
    on_chunk: Callable[..., Any] | None = None,
    threads: int = 1,
) -> ShardScores:
    """Metric sums per split over GT samples ``[start, stop)`` (``Protocol.shard_scores``) and the per-sample values
    they were added from, which the owner can download later (revealed splits).

    ``on_chunk`` runs after every chunk, on the calling thread; ``threads`` chunks are scored at a time.
    """
    gt = gt_with_meshes(gt_path, protocol.gt_schema) if protocol.gt_schema in SMPLX_SCHEMAS else ground_truth(protocol, gt_path)
    pred = predictions(protocol, gt_path, pred_path)
    pred_index = matched_indices(protocol, gt_path, pred_path)
    sums, values = protocol.shard_scores(protocol_models(protocol), gt, pred, pred_index, start, stop, chunk_size,
                                         on_chunk, threads)
    return ShardScores(sums, values)


def clear_caches() -> None:
    with _lock:
        _body_models.clear()
        _sample_sets.clear()
        _matches.clear()
        _mesh_caches.clear()
        _model_hashes.clear()
