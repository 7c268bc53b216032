"""Score one model on several image benchmarks through the evaluator, as the server scores an upload.

Each benchmark is a held-out image folder (``manifest.json`` + images; its GT is never read by the model run)
and a GT file scored by that benchmark's ``evaluator.protocols`` protocol and options. The predictions go
through ``evaluator.formats.load_sample_set`` (the upload path) and ``protocol.score``; the primary errors
are averaged into MPE by ``evaluator.mpe.mean_primary_error``. No Django here: ``reference_models.test``
collects the host's benchmarks.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from evaluator import __version__ as EVALUATOR_VERSION
from evaluator.formats import load_sample_set
from evaluator.metric_sums import MetricSums
from evaluator.mpe import mean_primary_error
from evaluator.protocols import get_protocol, load_protocol_models

from .infer import predict


@dataclass(frozen=True)
class BenchmarkTarget:
    name: str
    images: Path  # folder with manifest.json (or the manifest itself); the model input
    gt: Path  # ground truth the protocol loads
    protocol: str = "smplx-generic"
    options: dict = field(default_factory=dict)
    primary_metric: str = "mpvpe_all"

    @classmethod
    def image_benchmark(cls, folder: str | Path, name: str | None = None) -> "BenchmarkTarget":
        """A folder in ``evaluator.image_benchmark``'s layout: ``input/manifest.json`` + ``gt.npz``."""
        folder = Path(folder)
        return cls(name or folder.name, folder / "input", folder / "gt.npz")


@dataclass
class BenchmarkScore:
    name: str
    primary_metric: str
    primary: float | None
    metrics: dict[str, float | None]
    num_samples: int
    protocol: dict  # name, version, options


@dataclass
class EvaluationReport:
    scores: list[BenchmarkScore]
    mpe: float | None
    evaluator_version: str = EVALUATOR_VERSION

    def to_json(self) -> dict:
        return {"mpe": self.mpe, "evaluator_version": self.evaluator_version,
                "benchmarks": [asdict(s) for s in self.scores]}

    def table(self) -> str:
        width = max([len(s.name) for s in self.scores] + [9])
        lines = [f"{'benchmark':<{width}}  {'primary':<12} {'error (mm)':>10}  samples  protocol"]
        for s in self.scores:
            value = f"{s.primary:10.2f}" if s.primary is not None else f"{'n/a':>10}"
            lines.append(f"{s.name:<{width}}  {s.primary_metric:<12} {value}  {s.num_samples:7d}  "
                         f"{s.protocol['name']} v{s.protocol['version']}")
        lines.append(f"{'MPE':<{width}}  {'':<12} {self.mpe:10.2f}" if self.mpe is not None else "MPE n/a")
        return "\n".join(lines)


def score_predictions(target: BenchmarkTarget, predictions: dict[str, np.ndarray], model_dir: str | Path,
                      device: str = "cpu") -> BenchmarkScore:
    protocol = get_protocol(target.protocol, target.options)
    gt = protocol.load_gt(target.gt)
    with tempfile.TemporaryDirectory() as tmp:  # the same loader an upload goes through
        path = Path(tmp) / "pred.npz"
        np.savez(path, **predictions)
        pred = load_sample_set(path, role="pred")
    models = load_protocol_models(protocol, model_dir, device=device)
    sums = protocol.score(models, gt, pred, threads=1)
    merged = MetricSums.merge_all(sums.values())
    means = merged.means()
    return BenchmarkScore(target.name, target.primary_metric, means.get(target.primary_metric), means,
                          merged.num_samples, protocol.describe())


def evaluate(model: torch.nn.Module, targets: list[BenchmarkTarget], model_dir: str | Path, batch_size: int = 32,
             device: str = "cpu", progress: bool = False) -> EvaluationReport:
    """Run the model on every benchmark's images, score each with its protocol, and average the MPE."""
    scores = []
    for target in targets:
        predictions = predict(model, target.images, batch_size=batch_size, device=device, progress=progress)
        scores.append(score_predictions(target, predictions, model_dir, device))
    return EvaluationReport(scores, mean_primary_error({s.name: s.primary for s in scores}))
