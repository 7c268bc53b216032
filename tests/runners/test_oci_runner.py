"""The podman runner against real (tiny) OCI images built offline in the test session."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from runner_test_support import private_stores
from model_scripts import (
    ALLOCATE_512_MIB, CHATTY, GARBAGE_OUTPUT, HUGE_OUTPUT, PROBE_NETWORK, REPORT_SANDBOX, SLEEP_FOREVER, model_script,
)

from evaluator.formats import FormatError, load_sample_set, match_samples
from workers.runners import RunLimits, run_model_submission, runner_available
from workers.runners.podman import OciConfig

pytestmark = [pytest.mark.container]

LIMITS = RunLimits(time_s=60, memory_bytes=256 * 1024**2, output_bytes=4 * 1024**2, log_bytes=16 * 1024)


@pytest.fixture
def run_oci(podman_store, image_factory, image_benchmark, tmp_path, monkeypatch):
    """Build an image archive from a model script and run it; returns the RunResult."""
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/ehps")  # must not reach the model
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://:secret@127.0.0.1:6379/0")
    counter = iter(range(1000))

    def run(script: str, limits: RunLimits = LIMITS, rootfs: bool = False):
        name = f"{tmp_path.name}-{next(counter)}".lower()
        artifact = image_factory.rootfs_tar(name, script) if rootfs else image_factory.docker_archive(name, script)
        work = tmp_path / name
        work.mkdir()
        return run_model_submission("oci", artifact, image_benchmark.input_dir, work, limits)

    return run


def benchmark_ids(image_benchmark) -> list[str]:
    manifest = json.loads((image_benchmark.input_dir / "manifest.json").read_text())
    return [s["sample_id"] for s in manifest["samples"]]


def test_podman_is_available(podman_store):
    ok, reason = runner_available("oci")
    assert ok, reason


def test_valid_model_predictions_load_and_match(run_oci, image_benchmark):
    result = run_oci(model_script(REPORT_SANDBOX))
    assert result.ok, (result.error, result.log_tail)
    assert result.returncode == 0 and not result.killed
    pred = load_sample_set(result.predictions_path)
    assert sorted(pred.sample_ids.tolist()) == sorted(benchmark_ids(image_benchmark))
    gt = load_sample_set(image_benchmark.gt_path, role="gt")
    match_samples(gt, pred)  # raises if any GT sample is missing
    np.testing.assert_allclose(pred.arrays["betas"][0], [0.01 * (i % 7) for i in range(10)], rtol=1e-6)
    # The sandbox as seen from inside: unprivileged, clean environment, read-only input.
    assert "model: uid 65534 gid 65534" in result.log_tail
    env_line = next(line for line in result.log_tail.splitlines() if line.startswith("model: env"))
    assert "DATABASE_URL" not in env_line and "CELERY_BROKER_URL" not in env_line
    assert "model: input not writable" in result.log_tail


def test_rootfs_tar_with_entrypoint_runs(run_oci, image_benchmark):
    result = run_oci(model_script(), rootfs=True)
    assert result.ok, (result.error, result.log_tail)
    assert len(load_sample_set(result.predictions_path)) == len(benchmark_ids(image_benchmark))


def test_model_has_no_network(run_oci):
    result = run_oci(model_script(PROBE_NETWORK))
    assert result.ok, (result.error, result.log_tail)
    assert "CONNECTED" not in result.log_tail
    for target in ("127.0.0.1:6379", "10.88.0.1:53", "1.1.1.1:53"):
        assert f"model: connect {target} failed" in result.log_tail


def test_time_limit_stops_the_model(run_oci, podman_store):
    result = run_oci(model_script(SLEEP_FOREVER), RunLimits(time_s=3, memory_bytes=LIMITS.memory_bytes))
    assert not result.ok and result.timed_out and result.killed
    assert result.error == "the model exceeded the time limit of 3 s and was stopped"
    assert result.duration_s < 20
    assert "model: sleeping" in result.log_tail
    assert _leftover_containers(podman_store) == []


def test_memory_limit_stops_the_model(run_oci):
    result = run_oci(model_script(ALLOCATE_512_MIB), RunLimits(time_s=60, memory_bytes=128 * 1024**2))
    assert not result.ok and result.oom and not result.timed_out
    assert "exceeded the memory limit of 128 MiB" in result.error
    assert "model: allocating" in result.log_tail and "model: allocated" not in result.log_tail


def test_garbage_output_is_returned_and_fails_validation(run_oci):
    result = run_oci(model_script(GARBAGE_OUTPUT, write_valid=False))
    assert result.ok, (result.error, result.log_tail)
    with pytest.raises(FormatError, match="predictions.npz: not an .npz file"):
        load_sample_set(result.predictions_path)


def test_oversized_output_is_rejected(run_oci):
    result = run_oci(model_script(HUGE_OUTPUT, write_valid=False))
    assert not result.ok and result.predictions_path is None
    assert result.error == "the model's output exceeded the limit of 4 MiB and was stopped"


def test_log_keeps_only_the_tail(run_oci):
    result = run_oci(model_script(CHATTY))
    assert result.ok, result.error
    assert len(result.log_tail.encode()) < LIMITS.log_bytes + 200
    assert result.log_tail.startswith("[... ") and "earlier bytes of output dropped" in result.log_tail
    assert "model: last line" in result.log_tail and "log line 00000" not in result.log_tail


def test_missing_predictions_is_a_clear_error(run_oci):
    result = run_oci(model_script(write_valid=False))
    assert not result.ok
    assert result.error == "the model did not write /output/predictions.npz (the output folder is empty)"


def test_images_are_removed_after_the_run(run_oci, podman_store):
    """Each run loads into a private store that is deleted with everything in it (images, containers)."""
    result = run_oci(model_script())
    assert result.ok, result.error
    assert _leftover_containers(podman_store) == []


def _leftover_containers(podman_store: Path) -> list[Path]:
    return private_stores(Path(OciConfig.from_env().store_base))
