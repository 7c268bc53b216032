"""Container (OCI image) submissions from upload to leaderboard: a real worker process, and the failure paths."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evaluator.formats import load_sample_set
from leaderboard.storage import private_path
from leaderboard.submissions.models import FINAL_STATUSES, Status, Submission
from tests.fixtures_live import wait_until
from tests.model_submissions.conftest import SLUG
from tests.model_submissions.pipeline_checks import (
    assert_failed_for_the_owner,
    assert_log_staff_only,
    assert_on_leaderboard_only_once_published,
    assert_scored_like_the_evaluator,
    submit_model,
)
from workers.model_runs import INVALID_PREDICTIONS
from tests.runners.model_scripts import GARBAGE_OUTPUT, PROBE_NETWORK, SLEEP_FOREVER, model_script

pytestmark = [pytest.mark.container]

# Shows what the sandbox's /input holds: the held-out images and manifest, never the ground truth.
LIST_INPUT = 'print("model: input holds", " ".join(sorted(os.listdir("/input"))), flush=True)\n'


@pytest.mark.integration
def test_container_goes_from_upload_to_the_leaderboard_on_a_real_worker(
    live_stack, image_factory, image_benchmark, rendered_images, alice, bob, settings
):
    artifact = image_factory.docker_archive("e2e-valid", model_script(LIST_INPUT))
    # Large enough to arrive as a temporary file, not in memory (the API once failed to copy such a request).
    assert artifact.stat().st_size > settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    live_stack.start_worker("models")
    submission = submit_model(alice, artifact, "container", SLUG)

    def final() -> bool:
        submission.refresh_from_db()
        return submission.status in FINAL_STATUSES

    try:
        wait_until(final, 120, 0.5, "the container submission to be evaluated")
    except TimeoutError as exc:
        raise AssertionError(f"{exc} (status {submission.status})\n{live_stack.worker_logs()}") from None
    assert submission.worker.startswith("models@")  # run by the worker process, not in this one
    assert_scored_like_the_evaluator(submission, image_benchmark)

    # What was scored is the model's own output on the images it was given.
    assert "model: input holds images manifest.json\n" in submission.log
    manifest = json.loads((rendered_images.input_dir / "manifest.json").read_text())
    stored = load_sample_set(private_path(submission.predictions_name(SLUG)))
    assert stored.sample_ids.tolist() == [s["sample_id"] for s in manifest["samples"]]
    np.testing.assert_allclose(stored.arrays["betas"][0], [0.01 * (i % 7) for i in range(10)], rtol=1e-6)

    assert_log_staff_only(alice, bob, submission, "model: wrote 6 predictions")  # private: bob gets 404
    assert_on_leaderboard_only_once_published(alice, submission, SLUG)
    submission.refresh_from_db()
    assert_log_staff_only(alice, bob, submission, "model: wrote 6 predictions")  # public: still no log


@pytest.mark.timeout(90)  # fails fast, not after the 30 min default, if the setting stops reaching the runner
def test_container_over_the_time_limit_fails_with_a_clear_message(submit_eagerly, image_factory, image_benchmark,
                                                                   alice, bob, settings):
    settings.MODEL_RUN_TIME_LIMIT_S = 3
    artifact = image_factory.docker_archive("e2e-sleeps", model_script(SLEEP_FOREVER))
    submission = submit_eagerly(alice, artifact, "container")
    assert_failed_for_the_owner(
        alice, submission, f"Model run on benchmark '{SLUG}': the model exceeded the time limit of 3 s and was stopped"
    )
    assert_log_staff_only(alice, bob, submission, "model: sleeping")


def test_container_writing_garbage_fails_validation(submit_eagerly, image_factory, image_benchmark, alice, bob):
    artifact = image_factory.docker_archive("e2e-garbage", model_script(GARBAGE_OUTPUT, write_valid=False))
    submission = submit_eagerly(alice, artifact, "container")
    # The owner reads our verdict only; the checker's detail goes to the staff log.
    assert_failed_for_the_owner(alice, submission, f"Model run on benchmark '{SLUG}': {INVALID_PREDICTIONS}")
    assert f"===== {SLUG} (attempt 1, " in submission.log  # the run itself succeeded; its (empty) output is logged
    assert "predictions refused: predictions.npz: not an .npz file" in submission.log


def test_container_probing_the_network_is_cut_off_but_still_scored(submit_eagerly, image_factory, image_benchmark,
                                                                    alice, bob):
    """Every connection fails inside the sandbox; the model then writes predictions, so the submission finishes."""
    artifact = image_factory.docker_archive("e2e-network", model_script(PROBE_NETWORK))
    submission = submit_eagerly(alice, artifact, "container")
    assert_scored_like_the_evaluator(submission, image_benchmark)
    assert "CONNECTED" not in submission.log
    for target in ("127.0.0.1:6379", "10.88.0.1:53", "1.1.1.1:53"):
        assert f"model: connect {target} failed" in submission.log
    assert_log_staff_only(alice, bob, submission, "model: connect 1.1.1.1:53 failed")
    assert Submission.objects.get(pk=submission.pk).status == Status.FINISHED
