"""The protocol interface: a named, versioned recipe turning GT + predictions into per-sample values.

A protocol says which GT file layout it reads (``gt_schema``), which parts have GT, which metric
keys it produces and how one chunk of samples is scored (``chunk_values``). The chunk loop,
split bookkeeping and per-sample output are shared here, so the metric core stays free of
per-benchmark ``if``s.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, ClassVar, Iterator, Mapping

import numpy as np

from ..formats import SampleSet, load_sample_set, match_samples
from ..metric_names import ALL_METRIC_LABELS, MetricLabel
from ..metric_sums import MetricSums

Progress = Callable[[int, int], None]
PERSON_CROP, WHOLE_IMAGE = "person-crop", "whole-image"  # Protocol.model_input values


def sums_by_split(per_sample: dict[str, np.ndarray], metrics: tuple[str, ...]) -> dict[str, MetricSums]:
    """Metric sums per split of per-sample values (what ``Protocol.score`` adds up, from the same float64 values)."""
    splits = per_sample["split"]
    sums: dict[str, MetricSums] = {}
    for split in np.unique(splits):
        mask = splits == split
        sums[str(split)] = MetricSums.empty(metrics).add({k: per_sample[k][mask] for k in metrics})
    return sums


@dataclass(frozen=True)
class ProtocolModels:
    """The body models a protocol needs: SMPL-X always, SMPL (evaluator.smpl.SmplModels) for 3DPW."""

    smplx: Any  # evaluator.body_model.BodyModel
    smpl: Any = None

    @property
    def device(self):
        return self.smplx.device


def as_models(models: Any) -> ProtocolModels:
    """Accept a ProtocolModels or a bare SMPL-X BodyModel (what older callers pass)."""
    return models if isinstance(models, ProtocolModels) else ProtocolModels(smplx=models)


@dataclass(frozen=True)
class OptionSpec:
    default: Any
    choices: tuple | None = None  # allowed values, or None for any value passing ``check``
    check: Callable[[Any], bool] | None = None
    doc: str = ""


class Protocol:
    """Base class; subclasses set the class attributes and implement ``chunk_values``."""

    name: ClassVar[str]
    version: ClassVar[str]
    title: ClassVar[str] = ""
    source: ClassVar[str] = ""  # the official function this restates
    gt_schema: ClassVar[str] = "smplx"
    needs_smpl: ClassVar[bool] = False
    parts: frozenset[str] = frozenset({"body", "hands", "face"})
    metrics: tuple[str, ...] = ()
    primary_metric: ClassVar[str] = "mpvpe_all"
    option_specs: ClassVar[dict[str, OptionSpec]] = {}
    # Whether MPE / hand MPE may average this protocol's results (per-crop errors in mm). A protocol whose headline
    # is another quantity (agora-multiperson: F1-normalised errors) is never part of them.
    in_mpe: ClassVar[bool] = True
    # Whether workers keep per-sample values for the owner's download and the failures page.
    per_sample_rows: ClassVar[bool] = True
    # What a predictions file holds: "samples" (one row per sample id) or "people" (people of whole images).
    prediction_layout: ClassVar[str] = "samples"
    # What a submitted model is given (the manifest's "input"): one person box per image (PERSON_CROP), or whole
    # images without boxes, the model finding a variable number of people in each (WHOLE_IMAGE).
    model_input: ClassVar[str] = PERSON_CROP
    # Keys a predictions file must hold beyond its layout's own (set by options, e.g. agora-multiperson's BEDLAM
    # variant); written into the benchmark's public inputs manifest so the offline `ehps check` refuses the same.
    required_prediction_keys: tuple[str, ...] = ()

    def __init__(self, options: Mapping[str, object] | None = None):
        options = dict(options or {})
        unknown = sorted(set(options) - set(self.option_specs))
        if unknown:
            known = ", ".join(sorted(self.option_specs)) or "none"
            raise ValueError(f"protocol {self.name!r}: unknown option(s) {unknown}; known options: {known}")
        self.options: dict[str, Any] = {}
        for key, spec in self.option_specs.items():
            value = options.get(key, spec.default)
            ok = (spec.choices is None or value in spec.choices) and (spec.check is None or spec.check(value))
            if not ok:
                allowed = f"one of {list(spec.choices)}" if spec.choices is not None else spec.doc
                raise ValueError(f"protocol {self.name!r}: option {key}={value!r} is invalid ({allowed})")
            self.options[key] = value
        self.configure()

    def configure(self) -> None:
        """Hook for subclasses to derive ``metrics``/``parts`` from ``self.options``."""

    def __repr__(self) -> str:
        return f"<Protocol {self.name} v{self.version} {self.options}>"

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary (stored with results, shown on benchmark pages)."""
        return {"name": self.name, "version": self.version, "options": dict(self.options),
                "parts": sorted(self.parts), "metrics": list(self.metrics),
                "primary_metric": self.primary_metric, "gt_schema": self.gt_schema, "source": self.source}

    # --- what results hold (the pipeline and the pages ask these; docs/architecture.md) -----------
    @property
    def ranking_metrics(self) -> tuple[str, ...]:
        """Result keys a benchmark may rank by (lower is better)."""
        return self.metrics

    def result_labels(self) -> dict[str, MetricLabel]:
        """Result keys shown as table columns, in display order, with their labels."""
        return {k: m for k, m in ALL_METRIC_LABELS.items() if k in self.metrics}

    def summarize(self, sums: MetricSums) -> dict[str, Any]:
        """A stored result (BenchmarkResult.metrics) from the merged sums of one split: the means here."""
        return sums.means()

    def subsets(self, figures: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        """(label, {result key: value}) per subset of people a page shows as rows (none here); a key's unrounded
        figure, where the result has one, as ``<key>_raw`` (shown beside the rounded one, not as a column)."""
        return []

    def breakdowns(self, figures: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """{dimension: per-bin rows} of a stored result, for the breakdown plots (none here)."""
        return {}

    # --- files -----------------------------------------------------------------------------
    def load_gt(self, source: str | os.PathLike, name: str | None = None) -> SampleSet:
        return load_sample_set(source, name=name, role="gt", schema=self.gt_schema)

    def prediction_keys(self) -> frozenset[str]:
        """Every key a predictions ``.npz`` may hold (the upload check refuses others before loading anything)."""
        from ..formats import SAMPLE_IDS, SCHEMAS, VERTICES

        return frozenset({SAMPLE_IDS, VERTICES, *SCHEMAS["smplx"].params})

    def check_prediction_file(self, source: Any, sample_ids: np.ndarray, name: str) -> int:
        """The upload check against the benchmark's public id list (no GT): FormatError naming the problem;
        returns the number of predictions."""
        pred = load_sample_set(source, name=name, role="pred")
        match_samples(SampleSet(name="benchmark", sample_ids=sample_ids, splits=sample_ids, arrays={}), pred)
        return len(pred)

    def load_predictions(self, source: Any, gt: Any, name: str | None = None) -> SampleSet:
        """A predictions file for scoring against ``gt``; FormatError naming the problem."""
        return load_sample_set(source, name=name, role="pred")

    def prediction_index(self, gt: Any, pred: Any) -> np.ndarray | None:
        """For every GT sample its prediction row (``match_samples``); FormatError on missing/unknown ids.
        None for a protocol that pairs inside ``shard_scores`` (agora-multiperson matches people per image)."""
        return np.asarray(match_samples(gt, pred))

    def shard_scores(self, models: Any, gt: Any, pred: Any, pred_index: np.ndarray | None, start: int, stop: int,
                     chunk_size: int, progress: Progress | None = None,
                     threads: int = 1) -> tuple[dict[str, MetricSums], dict[str, np.ndarray] | None]:
        """Sums per split of GT samples ``[start, stop)`` (a worker's shard) and, when ``per_sample_rows``, every
        metric per sample ("sample_id", "split", metric: (n,)). Sums are exact, so any sharding gives the same
        result."""
        values = self.per_sample(models, gt, pred, np.arange(start, stop), pred_index[start:stop], chunk_size,
                                 progress, threads)
        return sums_by_split(values, self.metrics), values

    # --- scoring ---------------------------------------------------------------------------
    def chunk_values(self, models: ProtocolModels, gt: SampleSet, pred: SampleSet, gt_index: np.ndarray,
                     pred_index: np.ndarray) -> dict[str, Any]:
        """{metric: (b,) per-sample values in mm, NaN = no value} for one chunk."""
        raise NotImplementedError

    def _chunks(self, models: Any, gt: SampleSet, pred: SampleSet, gt_index, pred_index, chunk_size: int,
                progress: Progress | None, threads: int = 1) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
        import torch

        from ..chunk_threads import map_chunks

        if gt.schema != self.gt_schema:
            raise ValueError(f"protocol {self.name!r} needs GT in the {self.gt_schema!r} layout, got {gt.schema!r}")
        models = as_models(models)
        gt_index = np.arange(len(gt)) if gt_index is None else np.asarray(gt_index, dtype=np.int64)
        if pred_index is None:
            pred_index = match_samples(gt, pred)[gt_index]
        pred_index = np.asarray(pred_index, dtype=np.int64)
        if gt_index.shape != pred_index.shape:
            raise ValueError(f"gt_index and pred_index differ in shape: {gt_index.shape} vs {pred_index.shape}")
        if chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        total = len(gt_index)

        def chunk(start: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
            gi, pi = gt_index[start: start + chunk_size], pred_index[start: start + chunk_size]
            with torch.inference_mode():  # per thread: the mode is thread-local
                values = self.chunk_values(models, gt, pred, gi, pi)
            missing = set(self.metrics) - set(values)
            if missing:
                raise RuntimeError(f"protocol {self.name!r} produced no {sorted(missing)}")
            return gi, {k: np.asarray(values[k].detach().cpu().double().numpy() if hasattr(values[k], "detach")
                                      else values[k], dtype=np.float64) for k in self.metrics}

        done = 0
        for gi, arrays in map_chunks(chunk, range(0, total, chunk_size), threads):
            done += len(gi)
            yield gi, arrays
            if progress is not None:
                progress(done, total)

    def score(self, models: Any, gt: SampleSet, pred: SampleSet, gt_index: np.ndarray | None = None,
              pred_index: np.ndarray | None = None, chunk_size: int = 256,
              progress: Progress | None = None, threads: int = 1) -> dict[str, MetricSums]:
        """Metric sums per GT split for GT rows ``gt_index`` (default all).

        ``pred_index[i]`` is the prediction row for GT row ``gt_index[i]``; by default it comes from
        ``match_samples`` (FormatError on missing/unknown ids). ``progress(done, total)`` is
        called after every chunk. ``threads`` > 1 scores that many chunks at a time, torch on one thread
        each (evaluator.chunk_threads); the results are the same.
        """
        sums: dict[str, MetricSums] = {}
        for gi, values in self._chunks(models, gt, pred, gt_index, pred_index, chunk_size, progress, threads):
            splits = gt.splits[gi]
            for split in np.unique(splits):
                mask = splits == split
                sums.setdefault(str(split), MetricSums.empty(self.metrics)).add({k: v[mask] for k, v in values.items()})
        return sums

    def per_sample(self, models: Any, gt: SampleSet, pred: SampleSet, gt_index: np.ndarray | None = None,
                   pred_index: np.ndarray | None = None, chunk_size: int = 256,
                   progress: Progress | None = None, threads: int = 1) -> dict[str, np.ndarray]:
        """Every metric per sample (float64 mm, NaN = no value) plus "sample_id" and "split"."""
        rows, parts = [], []
        for gi, values in self._chunks(models, gt, pred, gt_index, pred_index, chunk_size, progress, threads):
            rows.append(gi)
            parts.append(values)
        index = np.concatenate(rows) if rows else np.zeros(0, np.int64)
        out = {"sample_id": gt.sample_ids[index], "split": gt.splits[index]}
        for key in self.metrics:
            out[key] = np.concatenate([p[key] for p in parts]) if parts else np.zeros(0)
        return out
