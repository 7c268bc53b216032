"""Attacks on the podman runner from issue 12, each reproduced with a real (tiny) image: they must fail now.

Caps are set low (environment / RunLimits) so the attacks stay small and fast.
"""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest
from model_scripts import SLEEP_FOREVER, model_script
from oci_images import many_files_layer, zero_file_layer
from runner_test_support import private_stores, start_doomed_worker, wait_for

from workers.runners import ModelRunError, RunHooks, RunLimits, run_model_submission
from workers.runners.base import CANCELLED_MESSAGE
from workers.runners.podman import OciConfig

pytestmark = [pytest.mark.container]

LIMITS = RunLimits(time_s=60, memory_bytes=256 * 1024**2, output_bytes=4 * 1024**2, log_bytes=64 * 1024,
                   max_files=200)

WRITE_TO_VOLUME = '''
try:
    with open("/data/fill", "wb") as f:
        for _ in range(16):
            f.write(b"\\0" * (1024 * 1024))
    print("model: wrote 16 MiB to the image volume", flush=True)
except OSError as exc:
    print("model: volume write failed:", exc.strerror, flush=True)
'''

MANY_FILES = '''
for i in range(3000):
    open("/output/f%05d" % i, "w").close()
print("model: created 3000 files", flush=True)
'''

PRINT_MOUNTINFO = '''
print(open("/proc/self/mountinfo").read(), flush=True)
'''



def store_base() -> Path:
    return Path(OciConfig.from_env().store_base)


@pytest.fixture
def run_image(podman_store, image_benchmark, tmp_path):
    counter = iter(range(1000))

    def run(artifact: Path, limits: RunLimits = LIMITS, hooks: RunHooks | None = None):
        work = tmp_path / f"work-{next(counter)}"
        work.mkdir()
        return run_model_submission("oci", artifact, image_benchmark.input_dir, work, limits, hooks)

    return run


def test_image_volume_is_not_writable_and_leaves_nothing(run_image, image_factory):
    """Item 4: a VOLUME /data was a writable, uncapped anonymous volume that outlived the run."""
    artifact = image_factory.docker_archive("volume", model_script(WRITE_TO_VOLUME), volumes=("/data",))
    result = run_image(artifact)
    assert result.ok, (result.error, result.log_tail)
    assert "model: volume write failed:" in result.log_tail  # read-only root, no volume mounted there
    assert "wrote 16 MiB" not in result.log_tail
    assert private_stores(store_base()) == []  # the run's store, volumes and all, is gone


def test_output_file_count_is_capped(run_image, image_factory):
    """Item 14: a model filled /output with empty files (inodes), which no byte cap notices."""
    result = run_image(image_factory.docker_archive("inodes", model_script(MANY_FILES)))
    assert not result.ok and result.predictions_path is None
    assert result.error == "the model created more than 200 files or folders in /output and was stopped"


def test_container_does_not_see_the_stored_images_path(run_image, image_factory, image_benchmark):
    """Low: /proc/self/mountinfo named the host folder of the held-out images."""
    result = run_image(image_factory.docker_archive("mountinfo", model_script(PRINT_MOUNTINFO)))
    assert result.ok, (result.error, result.log_tail)
    assert " /input " in result.log_tail  # the mount table was printed
    assert str(image_benchmark.input_dir.parent) not in result.log_tail


def test_the_stored_images_keep_their_private_modes(podman_store, image_factory, image_benchmark, tmp_path):
    """Low: the runner made the benchmark's images folder world-readable; it now binds a copy."""
    import shutil

    stored = tmp_path / "private" / "images"
    shutil.copytree(image_benchmark.input_dir, stored)
    for path in [stored, *stored.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)
    work = tmp_path / "work"
    work.mkdir()
    result = run_model_submission("oci", image_factory.docker_archive("modes", model_script()), stored, work, LIMITS)
    assert result.ok, (result.error, result.log_tail)  # the sandbox user read its own copy
    assert {oct(os.stat(p).st_mode & 0o777) for p in [stored, *stored.rglob("*")]} <= {"0o700", "0o600"}


def test_an_external_sigkill_is_not_reported_as_the_memory_limit(run_image, image_factory):
    """Low: any SIGKILL (here an operator's `kill -9` from the host) was reported as "exceeded the memory limit"."""
    def kill_the_container() -> None:
        store = wait_for(lambda: next((s for s in private_stores(store_base()) if running_containers(s)), None),
                         60, "the container to start")
        pid = subprocess.run([*podman(store), "inspect", "--format", "{{.State.Pid}}", running_containers(store)[0]],
                             capture_output=True, text=True, check=True).stdout.strip()
        os.kill(int(pid), signal.SIGKILL)

    killer = threading.Thread(target=kill_the_container)
    killer.start()
    result = run_image(image_factory.docker_archive("sigkill", model_script(SLEEP_FOREVER)))
    killer.join()
    assert not result.ok and not result.oom and not result.timed_out
    assert result.error == "the model was killed by signal SIGKILL"


def test_cancel_stops_the_container_within_seconds(run_image, image_factory):
    """Item 5: cancel answered 200 but the container kept running."""
    started = time.monotonic()
    hooks = RunHooks(should_stop=lambda: time.monotonic() - started > 2, labels={"submission": "1"})
    result = run_image(image_factory.docker_archive("cancel", model_script(SLEEP_FOREVER)), hooks=hooks)
    assert result.cancelled and not result.ok and result.error == CANCELLED_MESSAGE
    assert time.monotonic() - started < 15
    assert private_stores(store_base()) == []


def test_decompression_bomb_is_refused_before_loading(run_image, image_factory, monkeypatch):
    """Item 7: a small upload unpacked to gigabytes in the store; it must be refused before podman sees it."""
    monkeypatch.setenv("MODEL_RUNNER_MAX_IMAGE_BYTES", str(len(image_factory.base_layer) + 32 * 1024**2))
    bomb = zero_file_layer(96 * 1024**2)
    artifact = image_factory.docker_archive("bomb", model_script(), extra_layers=(bomb,))
    assert artifact.stat().st_size < len(image_factory.base_layer) + 2 * 1024**2  # small upload, big image
    started = time.monotonic()
    with pytest.raises(ModelRunError, match=r"the container image unpacks to more than \d+ MiB; that is the limit"):
        run_image(artifact)
    assert time.monotonic() - started < 20
    assert private_stores(store_base()) == []


def test_inode_bomb_image_is_refused_before_loading(run_image, image_factory, monkeypatch):
    with tarfile.open(fileobj=io.BytesIO(image_factory.base_layer)) as base:
        base_entries = len(base.getmembers())
    monkeypatch.setenv("MODEL_RUNNER_MAX_IMAGE_ENTRIES", str(base_entries + 1000))
    artifact = image_factory.docker_archive("inode-bomb", model_script(), extra_layers=(many_files_layer(3000),))
    with pytest.raises(ModelRunError, match=rf"holds more than {base_entries + 1000} files"):
        run_image(artifact)


def test_no_room_on_disk_is_a_clear_failure(run_image, image_factory, monkeypatch):
    monkeypatch.setenv("MODEL_RUNNER_MIN_FREE_BYTES", str(10**15))
    with pytest.raises(ModelRunError, match="too little free disk space to unpack this image"):
        run_image(image_factory.docker_archive("no-room", model_script()))
    assert private_stores(store_base()) == []


def test_engine_timeout_is_a_clear_failure(run_image, image_factory, monkeypatch):
    """Item 7: a load past the engine timeout escaped as a TimeoutExpired naming server paths."""
    monkeypatch.setenv("MODEL_RUNNER_ENGINE_TIMEOUT_S", "0.05")
    with pytest.raises(ModelRunError, match=r"^podman load did not finish within 0.05 s and was stopped"):
        run_image(image_factory.docker_archive("slow-load", model_script()))
    assert private_stores(store_base()) == []


def test_engine_errors_name_no_server_paths(run_image, image_factory, tmp_path):
    """Low: podman's messages quoted server paths (var/private/uploads/...)."""
    broken = tmp_path / "var" / "private" / "uploads" / "broken.tar"
    broken.parent.mkdir(parents=True)
    with tarfile.open(broken, "w") as tar:  # a docker archive whose manifest names a missing layer
        data = json.dumps([{"Config": "missing.json", "RepoTags": ["localhost/x:1"], "Layers": ["nope.tar"]}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(ModelRunError) as exc:
        run_image(broken)
    assert str(exc.value).startswith("podman load failed")
    assert "var/private" not in str(exc.value) and str(tmp_path) not in str(exc.value)


def test_upload_cannot_retag_an_existing_image(run_image, image_factory, podman_store):
    """Item 9: an upload whose RepoTags named an existing local image untagged it."""
    victim_store = ["podman", "--root", str(store_base()), "--runroot", str(podman_store / "run"), "--runtime",
                    "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    victim = image_factory.docker_archive("victim", model_script(), tag="localhost/victim:latest")
    subprocess.run([*victim_store, "load", "-i", str(victim)], check=True, capture_output=True)
    inspect = [*victim_store, "image", "inspect", "--format", "{{.Id}}", "localhost/victim:latest"]
    victim_id = subprocess.run(inspect, check=True, capture_output=True, text=True).stdout.strip()

    attacker = image_factory.docker_archive("attacker", model_script('print("model: attacker", flush=True)\n'),
                                            tag="localhost/victim:latest")
    result = run_image(attacker)
    assert result.ok and "model: attacker" in result.log_tail, (result.error, result.log_tail)
    assert subprocess.run(inspect, check=True, capture_output=True, text=True).stdout.strip() == victim_id
    assert private_stores(store_base()) == []


def podman(store: Path) -> list[str]:
    return ["podman", "--root", str(store / "root"), "--runroot", str(store / "run"), "--runtime", "runc",
            "--cgroup-manager", "cgroupfs", "--events-backend", "file"]


def running_containers(store: Path) -> list[str]:
    return subprocess.run([*podman(store), "ps", "--format", "{{.Names}}"], capture_output=True, text=True).stdout.split()


def test_a_killed_worker_leaves_no_container_or_folder_after_reaping(podman_store, image_factory, image_benchmark,
                                                                     tmp_path):
    """Item 5: when a pool process died, its container ran on unsupervised and its work folder stayed."""
    from workers.runners import reap_orphans

    work_root = tmp_path / "runs"
    child = start_doomed_worker("oci", image_factory.docker_archive("orphan", model_script(SLEEP_FOREVER)),
                                image_benchmark.input_dir, work_root)
    try:
        work_dir = Path(child.stdout.readline().strip())
        store = wait_for(lambda: next((s for s in private_stores(store_base()) if running_containers(s)), None),
                         60, "the container to start")
    finally:
        child.kill()  # SIGKILL: no finally block of the runner runs
        child.wait()
    time.sleep(1)
    assert running_containers(store), "the container should outlive its killed supervisor"
    reaped = reap_orphans(work_root)
    assert {"submission": "7", "attempt": "1"} in [owner.labels for owner in reaped if owner]
    assert not store.exists() and not work_dir.exists()
    assert subprocess.run(["pgrep", "-f", str(store)], capture_output=True).returncode == 1  # no conmon, no payload
    assert reap_orphans(work_root) == []  # idempotent; live runs are never touched
