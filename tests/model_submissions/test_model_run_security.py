"""Issue 12 attacks through the whole pipeline (upload API -> worker -> what the owner sees); they must fail now.

Held-out images leaving through the log or our messages, free failed runs, worker-side output bombs,
runs that a lost worker restarts forever, cancel that does not stop the sandbox.
"""
from __future__ import annotations

import base64
import json
import re
import subprocess
import time
from pathlib import Path
from unittest import mock

import pytest
from rest_framework.test import APIClient

from leaderboard.submissions.models import Status, Submission
from leaderboard.submissions.quotas import QuotaExceeded, check_quotas
from tests.fixtures_live import wait_until
from tests.model_submissions.conftest import SLUG
from tests.model_submissions.pipeline_checks import (
    api_view,
    assert_failed_for_the_owner,
    assert_log_staff_only,
    assert_scored_like_the_evaluator,
    page_client,
    submit_model,
)
from tests.runners.model_scripts import SLEEP_FOREVER, model_script
from tests.runners.runner_test_support import private_stores
from workers.model_runs import INVALID_PREDICTIONS, UNMATCHED_PREDICTIONS
from workers.runners.podman import OciConfig

pytestmark = [pytest.mark.container]

# The attack of issue 12 High 1: print a held-out image, base64-encoded, into the log.
EXFILTRATE = '''
import base64
first = manifest["samples"][0]["image"]
print("model: leak " + base64.b64encode(open("/input/" + first, "rb").read()).decode(), flush=True)
'''

EXIT_3 = 'raise SystemExit(3)\n'

# The attack of issue 12 High 5: a small predictions.npz with a member that inflates past the upload limit
# (scaled down: the limit is set low in the test).
INFLATING_MEMBER = '''
import zipfile
write_predictions("/output/predictions.npz", [s["sample_id"] for s in manifest["samples"]])
with zipfile.ZipFile("/output/predictions.npz", "a", zipfile.ZIP_DEFLATED) as zf:
    n = len(manifest["samples"])
    zf.writestr("vertices.npy", npy("<f4", (n, 10475, 3), b"\\0" * (n * 10475 * 3 * 4)))
print("model: wrote an inflating npz", flush=True)
'''

# Sample ids carrying held-out bytes: the evaluator's "unknown sample ids" message would quote them.
IDS_CARRY_PIXELS = '''
import base64
chunk = base64.b64encode(open("/input/" + manifest["samples"][0]["image"], "rb").read()[:120]).decode()
write_predictions("/output/predictions.npz", [chunk + str(i) for i in range(len(manifest["samples"]))])
'''

PRINT_CPU_QUOTA = '''
for path in ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu.max"):
    if os.path.exists(path):
        print("model: cpu quota", open(path).read().strip(), flush=True)
'''


def first_image_b64(rendered_images) -> str:
    manifest = json.loads((rendered_images.input_dir / "manifest.json").read_text())
    return base64.b64encode((rendered_images.input_dir / manifest["samples"][0]["image"]).read_bytes()).decode()


def test_a_printed_held_out_image_never_reaches_its_owner(submit_eagerly, image_factory, image_benchmark,
                                                          rendered_images, alice, bob):
    """High 1: the exact image came back in the owner's `log` (API and page)."""
    artifact = image_factory.docker_archive("leak", model_script(EXFILTRATE))
    submission = submit_eagerly(alice, artifact, "container")
    assert_scored_like_the_evaluator(submission, image_benchmark)
    leaked = first_image_b64(rendered_images)[:200]
    assert leaked in submission.log  # the attack did run: staff can see what it printed
    assert_log_staff_only(alice, bob, submission, leaked)
    owner_api = json.dumps(api_view(alice, submission).json())
    assert leaked not in owner_api and "model: leak" not in owner_api


def test_a_failing_run_tells_its_owner_the_exit_code_only(submit_eagerly, image_factory, image_benchmark,
                                                          rendered_images, alice, bob):
    artifact = image_factory.docker_archive("leak-and-fail", model_script(EXFILTRATE + EXIT_3, write_valid=False))
    submission = submit_eagerly(alice, artifact, "container")
    assert_failed_for_the_owner(alice, submission, f"Model run on benchmark '{SLUG}': the model exited with code 3")
    assert first_image_b64(rendered_images)[:200] not in json.dumps(api_view(alice, submission).json())


def test_sample_ids_made_of_pixels_are_not_quoted_back(submit_eagerly, image_factory, image_benchmark,
                                                       rendered_images, alice):
    """The evaluator names unknown sample ids; for a model run those ids are the model's words."""
    artifact = image_factory.docker_archive("leak-ids", model_script(IDS_CARRY_PIXELS, write_valid=False))
    submission = submit_eagerly(alice, artifact, "container")
    assert_failed_for_the_owner(alice, submission, f"Model run on benchmark '{SLUG}': {UNMATCHED_PREDICTIONS}")
    chunk = first_image_b64(rendered_images)[:40]
    assert chunk not in json.dumps(api_view(alice, submission).json())
    assert chunk in submission.log  # the detail is there for staff


def test_failed_model_runs_count_toward_the_daily_quota(submit_eagerly, image_factory, image_benchmark, alice,
                                                        settings):
    """High 1: failed runs were free, so the leak channel (exit code, timing) was unlimited."""
    settings.SUBMISSIONS_PER_BENCHMARK_PER_DAY = 1
    failing = image_factory.docker_archive("fails", model_script(EXIT_3, write_valid=False))
    assert submit_eagerly(alice, failing, "container").status == Status.FAILED
    client = APIClient()
    client.force_authenticate(alice)
    with open(failing, "rb") as upload:
        response = client.post("/api/v1/submissions/", {"file": upload, "kind": "container", "benchmark": SLUG,
                                                        "method_name": "again"}, format="multipart")
    assert response.status_code == 429, response.content
    assert response.json()["limit"] == "daily_per_benchmark"


def test_a_cancelled_run_counts_as_in_progress_until_its_sandbox_stopped(image_benchmark, alice, settings):
    settings.MAX_SUBMISSIONS_IN_PROGRESS = 1
    submission = Submission.objects.create(owner=alice, method_name="m", kind="container", status=Status.CANCELLED,
                                           model_runs=1, sandbox_active=True)
    with pytest.raises(QuotaExceeded) as exc:
        check_quotas(alice, [image_benchmark])
    assert exc.value.limit == "in_progress"
    Submission.objects.filter(pk=submission.pk).update(sandbox_active=False)
    check_quotas(alice, [image_benchmark])


def test_predictions_are_checked_like_uploads_before_numpy_reads_them(eager, image_factory, image_benchmark, alice,
                                                                      settings, monkeypatch):
    """High 5: the worker loaded predictions.npz without the web's size checks (3 GiB member -> 3.5 GB RSS)."""
    import workers.evaluation
    from workers.tasks import validate_submission

    artifact = image_factory.docker_archive("inflates", model_script(INFLATING_MEMBER, write_valid=False))
    with mock.patch("leaderboard.submissions.actions._start_evaluation"):
        submission = submit_model(alice, artifact, "container", SLUG)
    settings.MAX_UNCOMPRESSED_BYTES = 512 * 1024  # after the upload: the six samples' vertices alone are 737 KiB
    monkeypatch.setattr(workers.evaluation, "matched_indices",
                        lambda *a, **k: pytest.fail("the inflating npz reached numpy"))
    validate_submission.apply((submission.pk,)).get()
    assert_failed_for_the_owner(alice, submission, f"Model run on benchmark '{SLUG}': {INVALID_PREDICTIONS}")
    submission.refresh_from_db()
    assert "predictions refused: predictions.npz: its arrays decompress to" in submission.log


def test_a_rootfs_tar_goes_through_the_upload_and_is_scored(submit_eagerly, image_factory, image_benchmark, alice):
    """Low: the documented rootfs-tar form was refused by the upload path (only the runner tests took it)."""
    submission = submit_eagerly(alice, image_factory.rootfs_tar("rootfs-e2e", model_script()), "container")
    assert_scored_like_the_evaluator(submission, image_benchmark)


def test_the_cpu_quota_reaches_the_container(submit_eagerly, image_factory, image_benchmark, alice, settings):
    """Low: containers ran without a CPU quota."""
    settings.MODEL_RUN_CPUS = 0.5
    submission = submit_eagerly(alice, image_factory.docker_archive("cpu", model_script(PRINT_CPU_QUOTA)), "container")
    assert submission.status == Status.FINISHED, submission.error_message
    assert re.search(r"model: cpu quota 50000\b", submission.log), submission.log  # cgroup v1 and v2 formats


def test_a_run_started_too_often_fails_instead_of_running_again(eager, image_factory, image_benchmark, alice,
                                                                settings, django_capture_on_commit_callbacks):
    """High 5: a task re-delivered after a lost worker ran the model again and again (attempts stayed 1)."""
    from workers.tasks import validate_submission

    settings.MODEL_RUN_MAX_ATTEMPTS = 2
    with mock.patch("leaderboard.submissions.actions._start_evaluation"):
        submission = submit_model(alice, image_factory.docker_archive("redelivered", model_script()), "container", SLUG)
    # As a re-delivered message finds it: VALIDATING, its runs used up by workers that died.
    Submission.objects.filter(pk=submission.pk).update(status=Status.VALIDATING, model_runs=2, sandbox_active=True)
    assert validate_submission.apply((submission.pk,)).get() == {"failed": mock.ANY}
    assert_failed_for_the_owner(
        alice, submission,
        "The model run was started 2 times and did not finish (the worker running it stopped, e.g. it ran out of "
        "memory or was restarted); it is not run again. Please contact the organisers if this repeats.",
    )
    assert Submission.objects.get(pk=submission.pk).model_runs == 2  # no third run


def _pool_children(worker: subprocess.Popen) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_lost_pool_processes_are_counted_reaped_and_the_submission_failed(live_stack, image_factory, image_benchmark,
                                                                           alice):
    """High 5 on a real worker: SIGKILL the pool process in mid-run, twice. Each re-delivery reaps the
    orphaned container first; the third delivery fails the submission instead of running it again."""
    worker = live_stack.start_worker("models", MODEL_RUN_MAX_ATTEMPTS="2", MODEL_RUN_TIME_LIMIT_S="240")
    submission = submit_model(alice, image_factory.docker_archive("crashy", model_script(SLEEP_FOREVER)), "container",
                              SLUG)
    stores = Path(OciConfig.from_env().store_base)
    for attempt in (1, 2):
        def running() -> bool:
            submission.refresh_from_db()
            return submission.model_runs == attempt and submission.sandbox_active and bool(private_stores(stores))

        try:
            wait_until(running, 120, 0.5, f"model run {attempt} to start")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n{live_stack.worker_logs()}") from None
        (pool,) = _pool_children(worker)
        subprocess.run(["kill", "-KILL", str(pool)], check=True)  # what the OOM killer does to a pool process

    def failed() -> bool:
        submission.refresh_from_db()
        return submission.status == Status.FAILED

    wait_until(failed, 120, 0.5, f"the submission to fail\n{live_stack.worker_logs()}")
    assert submission.error_message.startswith("The model run was started 2 times and did not finish")
    assert submission.model_runs == 2 and not submission.sandbox_active
    wait_until(lambda: not private_stores(stores), 30, 0.5, "the orphaned store to be reaped")


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_cancel_stops_the_running_container_within_seconds(live_stack, image_factory, image_benchmark, alice):
    """High 5: cancel answered 200 while the container kept running."""
    live_stack.start_worker("models", MODEL_RUN_TIME_LIMIT_S="240")
    submission = submit_model(alice, image_factory.docker_archive("cancelled", model_script(SLEEP_FOREVER)),
                              "container", SLUG)
    stores = Path(OciConfig.from_env().store_base)

    def running() -> bool:
        submission.refresh_from_db()
        return submission.sandbox_active and bool(private_stores(stores))

    wait_until(running, 120, 0.5, f"the model to start\n{live_stack.worker_logs()}")
    time.sleep(1)
    client = APIClient()
    client.force_authenticate(alice)
    assert client.post(f"/api/v1/submissions/{submission.uuid}/cancel/").status_code == 200
    cancelled_at = time.monotonic()
    wait_until(lambda: not private_stores(stores), 15, 0.2, "the container and its store to be removed")
    stopped_after = time.monotonic() - cancelled_at

    def released() -> bool:
        submission.refresh_from_db()
        return not submission.sandbox_active

    wait_until(released, 10, 0.2, "the sandbox flag to clear")
    assert submission.status == Status.CANCELLED and stopped_after < 10
    assert "Model log" not in page_client(alice).get(submission.get_absolute_url()).content.decode()


def test_the_sweeper_reaps_orphaned_runs_and_clears_their_flag(db, alice, settings, tmp_path):
    """What a dead worker left (a run folder whose owner process is gone) is removed and its submission's
    sandbox no longer counts as in progress; live runs and folders that are not ours are left alone."""
    import os
    import socket

    from workers.model_runs import _reap_at_start_up
    from workers.runners.rundirs import OWNER_FILE, create_run_dir
    from workers.tasks import sweep_stuck_submissions

    settings.MODEL_RUN_WORK_ROOT = tmp_path / "runs"
    submission = Submission.objects.create(owner=alice, method_name="m", kind="container", status=Status.CANCELLED,
                                           model_runs=1, sandbox_active=True)
    orphan = create_run_dir(settings.MODEL_RUN_WORK_ROOT, {"submission": submission.pk, "attempt": 1})
    (orphan / OWNER_FILE).write_text(json.dumps(  # this process's pid, but not its start time: a recycled pid
        {"host": socket.gethostname(), "pid": os.getpid(), "start": -1,
         "labels": {"submission": str(submission.pk), "attempt": "1"}}))
    live = create_run_dir(settings.MODEL_RUN_WORK_ROOT, {"submission": "999", "attempt": "1"})
    not_ours = settings.MODEL_RUN_WORK_ROOT / "someone-elses"
    not_ours.mkdir()
    assert sweep_stuck_submissions.apply().get()["reaped"] >= 1
    assert not orphan.exists() and live.exists() and not_ours.exists()
    assert not Submission.objects.get(pk=submission.pk).sandbox_active
    # Start-up does the same (and never raises).
    (orphan := create_run_dir(settings.MODEL_RUN_WORK_ROOT, {})).joinpath(OWNER_FILE).write_text(
        json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "start": -1, "labels": {}}))
    _reap_at_start_up()
    assert not orphan.exists() and live.exists()
