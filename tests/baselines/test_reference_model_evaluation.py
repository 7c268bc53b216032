"""``python -m reference_models.test``: one checkpoint on every host benchmark with images, through the evaluator;
and the provenance a computed row records."""
from __future__ import annotations

import json

import numpy as np
import pytest

from leaderboard.submissions.baselines import BaselineError, host_benchmark_targets, load_reference_model, provenance
from reference_models.evaluate import BenchmarkTarget, score_predictions
from reference_models import test as reference_test


def test_the_scorer_is_the_evaluator(rendered_images, smplx_model_dir):
    target = BenchmarkTarget.image_benchmark(rendered_images.input_dir.parent)
    with np.load(rendered_images.gt_path) as gt:
        perfect = {k: gt[k] for k in gt.files}
    score = score_predictions(target, perfect, smplx_model_dir)
    assert score.primary == pytest.approx(0.0, abs=1e-6) and score.num_samples == 4
    assert score.protocol["name"] == "smplx-generic"
    off = dict(perfect, betas=perfect["betas"] + 1.0)
    assert score_predictions(target, off, smplx_model_dir).primary > 1.0


def test_checkpoint_on_all_host_benchmarks(image_benchmark, tiny_checkpoint, smplx_model_dir, tmp_path, capsys):
    targets = host_benchmark_targets()
    assert [t.name for t in targets] == [image_benchmark.slug] and targets[0].protocol == image_benchmark.protocol
    with pytest.raises(BaselineError, match="no-such"):
        host_benchmark_targets(["no-such"])
    out = tmp_path / "report.json"
    assert reference_test.main([str(tiny_checkpoint), "--benchmarks", "all", "--model-dir", str(smplx_model_dir),
                      "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    (bench,) = report["benchmarks"]
    assert bench["name"] == image_benchmark.slug and bench["primary"] > 0 and report["mpe"] == bench["primary"]
    assert len(report["checkpoint_sha256"]) == 64 and report["evaluator_version"]
    printed = capsys.readouterr().out
    assert image_benchmark.slug in printed and "MPE" in printed


def test_provenance_records_the_config_and_versions(tiny_checkpoint):
    loaded = load_reference_model(tiny_checkpoint)
    record = provenance(loaded, {"scaling_run": {"run": "n2-balance-s0"}})
    assert record["arch"] == "smpler_x" and record["size"] == "tiny" and record["evaluator_version"]
    assert "config" in record and record["scaling_run"] == {"run": "n2-balance-s0"}
