"""The scaling study's runs reach the board as computed baselines (issue 20): ``manage.py submit_scaling_runs`` (and
``python -m reference_models.scaling --submit``) submits each run's checkpoint with its provenance, once."""
from __future__ import annotations

import dataclasses
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from ehps_client.hashing import file_sha256
from leaderboard.submissions.models import BaselineSource, Efficiency, Submission


@pytest.fixture
def study(tmp_path, smplx_model_dir, tiny_checkpoint) -> Path:
    """A study folder as ``reference_models.scaling`` leaves it: one run trained for real (the tiniest grid: 2 steps
    of batch 2 on 2 rendered images of one domain) and one whose checkpoint scaling.json names elsewhere."""
    from reference_models.scaling import Grid, run_config
    from reference_models.train import train

    grid = Grid(tmp_path, steps=2, batch_size=2, train_images=2, test_images=2, seeds=(0,))
    cfg = dataclasses.replace(run_config(grid, ["near-frontal"], "balance", 0), model_dir=str(smplx_model_dir))
    train(cfg)
    trained = {"run": Path(cfg.out_dir).name, "checkpoint": "/moved/away/last.pth", "datasets": ["near-frontal"],
               "strategy": "balance", "seed": 0, "mpe": 512.0, "errors": {}, "evaluator_version": "x"}
    other = dict(trained, run="n2-concat-s0", checkpoint=str(tiny_checkpoint), datasets=["near-frontal", "far-side"],
                 strategy="concat", mpe=480.0)
    result = {"grid": {"steps": 2, "batch_size": 2}, "runs": [trained], "per_dataset": [other]}
    (tmp_path / "scaling.json").write_text(json.dumps(result))
    return tmp_path


def submit(*args: str) -> str:
    out = StringIO()
    call_command("submit_scaling_runs", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db
def test_every_run_becomes_a_computed_row_with_its_provenance_once(study, image_benchmark, started,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        out = submit("--scaling-dir", str(study))
    assert "only-near-frontal-s0: submitted" in out and "n2-concat-s0: submitted" in out
    rows = {s.method_name: s for s in Submission.objects.all()}
    assert set(rows) == {"SMPLer-X tiny scaling only-near-frontal-s0", "SMPLer-X tiny scaling n2-concat-s0"}
    trained = rows["SMPLer-X tiny scaling only-near-frontal-s0"]
    assert (trained.baseline_source, trained.is_public) == (BaselineSource.COMPUTED, True)
    assert trained.checkpoint_sha256 == file_sha256(study / "runs" / "only-near-frontal-s0" / "last.pth")
    run = trained.provenance["scaling_run"]
    assert run == {"run": "only-near-frontal-s0", "datasets": ["near-frontal"], "strategy": "balance", "seed": 0,
                   "steps": 2, "batch_size": 2, "study_mpe_mm": 512.0}
    assert trained.provenance["config"]["max_steps"] == 2  # the training config stored in the checkpoint
    assert [b.slug for b in trained.benchmarks.all()] == [image_benchmark.slug]
    assert Efficiency.objects.filter(submission=trained, source="measured", ms_per_image__gt=0).count() == 1
    assert started.call_count == 2  # scored by the normal pipeline

    from reference_models.scaling import submit_runs

    submit_runs(study)  # `--submit` on the study: nothing new, each checkpoint is on the board already
    assert Submission.objects.count() == 2


@pytest.mark.django_db
def test_missing_study_or_run_is_a_clear_error(study, image_benchmark, tmp_path, started):
    with pytest.raises(CommandError, match="scaling.json does not exist: run `python -m reference_models.scaling"):
        submit("--scaling-dir", str(tmp_path / "nothing"))
    with pytest.raises(CommandError, match="No run named n9"):
        submit("--scaling-dir", str(study), "--run", "n9")
    assert not Submission.objects.exists()
