"""Score one model on several image benchmarks through the evaluator, as the server scores an upload.

Each benchmark is a held-out image folder (``manifest.json`` + images; its GT is never read by the model run)
and a GT file scored by that benchmark's ``evaluator.protocols`` protocol and options. The predictions go
through the protocol's loader (the upload path), ``protocol.score`` and ``protocol.summarize``; the primary
errors of the protocols that count toward MPE are averaged into MPE by ``evaluator.mpe.mean_primary_error``.
A whole-image benchmark (``Protocol.model_input``, agora-multiperson) gives the model no boxes: it runs behind the
detector stage of ``reference_models.multiperson``. No Django here: ``reference_models.test`` collects the host's
benchmarks.
"""
from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from evaluator import __version__ as EVALUATOR_VERSION
from evaluator.metric_sums import MetricSums
from evaluator.mpe import mean_primary_error
from evaluator.protocols import Protocol, get_protocol, load_protocol_models
from evaluator.protocols.base import WHOLE_IMAGE

from .infer import predict
from .multiperson import predict_people


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
    in_mpe: bool = True  # Protocol.in_mpe: whether MPE averages it


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
        pred = protocol.load_predictions(path, gt)
    models = load_protocol_models(protocol, model_dir, device=device)
    sums = protocol.score(models, gt, pred, threads=1)
    merged = MetricSums.merge_all(sums.values())
    figures = protocol.summarize(merged)
    return BenchmarkScore(target.name, target.primary_metric, figures.get(target.primary_metric), figures,
                          merged.num_samples, protocol.describe(), protocol.in_mpe)


def run_model(model: torch.nn.Module, images: str | Path, protocol: Protocol, model_dir: str | Path,
              batch_size: int = 32, device: str = "cpu", progress: bool = False,
              timings: list[float] | None = None) -> dict[str, np.ndarray]:
    """The model's predictions on a benchmark's held-out ``images`` (folder with manifest.json), given the input its
    protocol gives models; ``timings`` receives the runner's ms/image figures (``infer.predict``, ``predict_people``).
    Also the path of ``manage.py submit_reference_model``, so a computed row is made as ``evaluate`` scores."""
    if protocol.model_input == WHOLE_IMAGE:
        return predict_people(model, images, model_dir, batch_size=batch_size, device=device, timings=timings)
    return predict(model, images, batch_size=batch_size, device=device, progress=progress, timings=timings)


def evaluate(model: torch.nn.Module, targets: list[BenchmarkTarget], model_dir: str | Path, batch_size: int = 32,
             device: str = "cpu", progress: bool = False) -> EvaluationReport:
    """Run the model on every benchmark's images, score each with its protocol, and average the MPE."""
    scores = []
    for target in targets:
        protocol = get_protocol(target.protocol, target.options)
        predictions = run_model(model, target.images, protocol, model_dir, batch_size, device, progress)
        scores.append(score_predictions(target, predictions, model_dir, device))
    return EvaluationReport(scores, mean_primary_error({s.name: s.primary for s in scores if s.in_mpe}))
