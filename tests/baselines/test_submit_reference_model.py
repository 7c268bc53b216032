"""submit_reference_model: a checkpoint run on held-out images, submitted and scored like any upload."""
from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import Client

from ehps_client.hashing import file_sha256
from leaderboard.benchmarks.testing import make_benchmark
from leaderboard.submissions.baselines import ARCH_CITATIONS, SYSTEM_USERNAME
from leaderboard.submissions.leaderboard import overall_leaderboard
from leaderboard.submissions.models import BaselineSource, Status, Submission


def submit(*args: str) -> str:
    out = StringIO()
    call_command("submit_reference_model", *args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)  # the pipeline starts on commit, as in production
def test_end_to_end_gives_a_finished_public_computed_row(eager, image_benchmark, tiny_checkpoint, monkeypatch):
    from reference_models.checkpoint import load_checkpoint
    from reference_models.data import sources
    from reference_models.infer import predict

    def no_gt(*args, **kwargs):
        raise AssertionError("the model run must never read ground truth")

    monkeypatch.setattr(sources, "attach_gt", no_gt)
    out = submit("--checkpoint", str(tiny_checkpoint), "--benchmark", image_benchmark.slug, "--wait", "--device", "cpu")

    submission = Submission.objects.get()
    digest = file_sha256(tiny_checkpoint)
    assert (submission.status, submission.baseline_source, submission.is_public) == (Status.FINISHED, BaselineSource.COMPUTED, True)
    assert submission.owner.username == SYSTEM_USERNAME and submission.citation == ARCH_CITATIONS["smpler_x"]
    assert digest in submission.description and submission.method_name == f"SMPLer-X-tiny (reference, {digest[:8]})"
    assert list(submission.benchmarks.all()) == [image_benchmark]
    # provenance as fields (issue 22 §5), not text in the description
    from reference_models.test import code_commit

    assert submission.checkpoint_sha256 == digest and submission.code_commit == code_commit()[:40]
    assert submission.provenance["arch"] == "smpler_x" and submission.provenance["size"] == "tiny"
    (figures,) = submission.efficiency.all()
    assert (figures.benchmark, figures.source, figures.device) == (image_benchmark, "measured", "cpu")
    assert figures.ms_per_image > 0 and figures.peak_memory_mb > 0
    from reference_models.params import count_parameters

    assert figures.params == count_parameters("smpler_x", "tiny")

    (result,) = submission.results.all()
    assert (result.benchmark, result.split, result.num_samples) == (image_benchmark, "test", 4)
    assert result.primary_value is not None and np.isfinite(result.primary_value) and result.primary_value > 0
    assert submission.mpe == pytest.approx(result.primary_value)  # the only MPE benchmark
    assert f"bl-images/test: mpvpe_all {result.primary_value:.1f} mm (4 samples)" in out and "Finished." in out

    # what was scored is the model's own output on the held-out images, stored like any upload
    stored = Path(settings.PRIVATE_STORAGE_ROOT) / submission.predictions_name(image_benchmark.slug)
    expected = predict(load_checkpoint(tiny_checkpoint)[0], Path(settings.PRIVATE_STORAGE_ROOT) / image_benchmark.images_path, progress=False)
    with np.load(stored, allow_pickle=False) as got:
        assert set(got.files) == set(expected)
        for key, value in expected.items():
            np.testing.assert_array_equal(got[key], value, err_msg=key)

    (row,) = overall_leaderboard()
    assert row.submission == submission and row.rank == 1
    html = Client().get("/").content.decode()
    assert 'class="badge computed"' in html and submission.method_name in html
    assert f"{digest[:12]}…" in html and "ms/img" in html and 'class="chart speed"' in html


@pytest.mark.django_db
def test_a_benchmark_without_images_cannot_run_a_model(tiny_checkpoint):
    make_benchmark("preds-only", num_samples=4)
    with pytest.raises(CommandError, match="'preds-only' has no held-out images .* a model cannot be run on it"):
        submit("--checkpoint", str(tiny_checkpoint), "--benchmark", "preds-only")
    with pytest.raises(CommandError, match="No benchmark with slug 'nope'"):
        submit("--checkpoint", str(tiny_checkpoint), "--benchmark", "nope")
    assert not Submission.objects.exists()


@pytest.mark.django_db
def test_bad_checkpoints_and_manifests_are_refused_before_submitting(image_benchmark, tiny_checkpoint, tmp_path):
    with pytest.raises(CommandError, match="holds a 'smpler_x' model but --arch 'smplest_x' was given"):
        submit("--checkpoint", str(tiny_checkpoint), "--arch", "smplest_x", "--benchmark", image_benchmark.slug)
    with pytest.raises(CommandError, match="does not exist"):
        submit("--checkpoint", str(tmp_path / "missing.pth"), "--benchmark", image_benchmark.slug)
    import torch

    foreign = tmp_path / "foreign.pth"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(CommandError, match="not a reference_models checkpoint .*pass --arch and --size"):
        submit("--checkpoint", str(foreign), "--benchmark", image_benchmark.slug)
    with pytest.raises(CommandError, match="does not fit smpler_x-tiny: .* missing"):
        submit("--checkpoint", str(foreign), "--arch", "smpler_x", "--size", "tiny", "--benchmark", image_benchmark.slug)

    manifest = Path(settings.PRIVATE_STORAGE_ROOT) / image_benchmark.images_path / "manifest.json"
    original = manifest.read_text()
    try:
        manifest.write_text(json.dumps({**json.loads(original), "gt": "../../gt/bl-images/gt.npz"}))
        with pytest.raises(CommandError, match="names a ground-truth file"):
            submit("--checkpoint", str(tiny_checkpoint), "--benchmark", image_benchmark.slug)
    finally:
        manifest.write_text(original)
    assert not Submission.objects.exists()


@pytest.mark.django_db
def test_official_layout_weights_submit_and_partial_ones_are_refused(image_benchmark, tiny_checkpoint, tmp_path):
    """An official-style .pth.tar (DDP prefix, legacy encoder name, SMPL-X layer buffers) runs; a partial one not."""
    import torch

    from reference_models.checkpoint import load_checkpoint

    model = load_checkpoint(tiny_checkpoint)[0]
    state = {"module." + k.replace("encoder.", "backbone.", 1): v for k, v in model.state_dict().items()}
    state["module.smplx_layer.v_template"] = torch.zeros(10475, 3)
    official = tmp_path / "snapshot_5.pth.tar"
    torch.save({"network": state, "epoch": 5}, official)
    submit("--checkpoint", str(official), "--arch", "smpler_x", "--size", "tiny", "--benchmark", image_benchmark.slug)
    assert Submission.objects.get().baseline_source == BaselineSource.COMPUTED

    del state["module.face_regressor.expr_out.0.weight"]
    torch.save({"network": state}, official)
    with pytest.raises(CommandError, match="does not fit smpler_x-tiny: .*1 missing: face_regressor.expr_out.0.weight"):
        submit("--checkpoint", str(official), "--arch", "smpler_x", "--size", "tiny", "--benchmark", image_benchmark.slug)
    assert Submission.objects.count() == 1


@pytest.mark.django_db(transaction=True)  # the pipeline starts on commit, as in production
def test_a_whole_image_models_only_benchmark_gets_a_computed_row_through_the_detector(eager, tiny_checkpoint, tmp_path):
    """Issue 19: the manifest of whole images has no boxes; the command runs the checkpoint behind the detector
    stage (reference_models.evaluate.run_model) and stores the row as the server's own run: the benchmark refuses
    uploaded predictions files, not the server's reference rows."""
    from dataclasses import replace

    from evaluator.multiperson_images import make_multiperson_image_benchmark
    from leaderboard.benchmarks.demo import MULTIPERSON_BENCHMARK
    from leaderboard.benchmarks.services import import_ground_truth
    from leaderboard.storage import PRIVATE, local_path
    from reference_models.checkpoint import load_checkpoint
    from reference_models.multiperson import predict_people

    images = make_multiperson_image_benchmark(tmp_path / "mp", settings.SMPLX_MODEL_DIR, 3, seed=16)
    benchmark = import_ground_truth(images.gt_path, replace(MULTIPERSON_BENCHMARK.spec, slug="mp-ref"),
                                    images_dir=images.input_dir)
    benchmark.accepts_predictions = False  # models only, as the demo's
    benchmark.save(update_fields=["accepts_predictions"])

    out = submit("--checkpoint", str(tiny_checkpoint), "--benchmark", "mp-ref", "--wait", "--device", "cpu")

    submission = Submission.objects.get()
    assert (submission.status, submission.baseline_source, submission.is_public) == (
        Status.FINISHED, BaselineSource.COMPUTED, True), submission.error_message
    assert submission.checkpoint_sha256 == file_sha256(tiny_checkpoint) and submission.mpe is None  # not in MPE
    assert list(submission.phases.all()) == list(benchmark.phases.all()) != []  # on the open (default) phase's board
    (figures,) = submission.efficiency.all()
    assert figures.source == "measured" and figures.ms_per_image > 0  # the whole run per image, detector included
    (result,) = submission.results.all()
    assert result.num_samples == 3 and result.primary_value == result.metrics["fb_nmve"]  # 3 images
    assert f"mp-ref/test: fb_nmve {result.primary_value:.1f} mm (3 samples)" in out and "Finished. MPE —." in out
    # what was scored is the detector + checkpoint run on the held-out whole images
    expected = predict_people(load_checkpoint(tiny_checkpoint)[0], images.input_dir, settings.SMPLX_MODEL_DIR)
    with np.load(local_path(PRIVATE, submission.predictions_name("mp-ref")), allow_pickle=False) as got:
        assert set(got.files) == set(expected) and len(got["image_ids"]) > 0
        np.testing.assert_array_equal(got["image_ids"], expected["image_ids"])
        np.testing.assert_allclose(got["joints2d"], expected["joints2d"], atol=1e-4)
