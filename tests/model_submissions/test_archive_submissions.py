"""TorchScript model archives from upload to leaderboard, run in bubblewrap by the pipeline (in-process Celery)."""
from __future__ import annotations

import pytest

from evaluator.formats import load_sample_set
from leaderboard.storage import private_path
from tests.model_submissions.conftest import SLUG
from tests.model_submissions.pipeline_checks import (
    assert_log_staff_only,
    assert_on_leaderboard_only_once_published,
    assert_scored_like_the_evaluator,
)
from tests.runners.torchscript_archives import ParamsFromPixels, make_archive

pytestmark = [pytest.mark.container,
              pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")]


def test_model_archive_goes_from_upload_to_the_leaderboard(bwrap_ready, submit_eagerly, image_benchmark, alice, bob,
                                                           tmp_path):
    artifact = make_archive(tmp_path, ParamsFromPixels())
    submission = submit_eagerly(alice, artifact, "model_archive")
    assert_scored_like_the_evaluator(submission, image_benchmark)

    # global_orient is the crop's mean colour: the model really read the held-out pixels.
    colours = load_sample_set(private_path(submission.predictions_name(SLUG))).arrays["global_orient"]
    assert ((colours > 0) & (colours < 1)).all() and colours.std() > 1e-3

    # speed measured in the sandbox by the trusted entry script (issue 22 §5); the model has no parameters
    figures = submission.efficiency.get()
    assert (figures.source, figures.device, figures.params) == ("measured", "cpu", None) and figures.ms_per_image > 0

    line = "wrote 6 predictions to /output/predictions.npz"
    assert_log_staff_only(alice, bob, submission, line)
    assert_on_leaderboard_only_once_published(alice, submission, SLUG)
    submission.refresh_from_db()
    assert_log_staff_only(alice, bob, submission, line)
