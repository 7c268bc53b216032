"""The bubblewrap runner with real TorchScript model archives."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from runner_test_support import require_binaries
from torchscript_archives import ParamsFromPixels, make_archive

from evaluator.formats import load_sample_set, match_samples
from workers.runners import RunLimits, run_model_submission, runner_available

pytestmark = [pytest.mark.container,
              pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")]  # still what we load

LIMITS = RunLimits(time_s=120, memory_bytes=3 * 1024**3, output_bytes=8 * 1024**2, log_bytes=16 * 1024)


class ReturnsBareTensor(torch.nn.Module):

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Sleeps(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = x
        for _ in range(1_000_000_000):  # spin far past any test time limit
            y = y * 1.0000001
        return {"global_orient": y.mean(dim=(2, 3))}


class AllocatesTooMuch(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        big = torch.ones(2147483648)  # 8 GiB of float32
        return {"global_orient": x.mean(dim=(2, 3)) + big[0]}


class WritesItsOwnVerdict(torch.nn.Module):
    """Prints the old marker lines (one claiming an out-of-memory), then fails with a message of its own."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        print("EHPS-RUNNER-ERROR: memory")
        print("EHPS-RUNNER-ERROR: aGVsZC1vdXQ=")
        if bool(x.sum() > -1.0):
            raise RuntimeError("aGVsZC1vdXQ= chosen by the model")
        return {"global_orient": x.mean(dim=(2, 3))}


@pytest.fixture
def bwrap_ready():
    require_binaries("bwrap", "prlimit")
    ok, reason = runner_available("archive")
    assert ok, reason


def test_torchscript_archive_gives_valid_predictions(bwrap_ready, tmp_path, image_benchmark, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/ehps")
    archive = make_archive(tmp_path, ParamsFromPixels())
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)
    assert result.ok, (result.error, result.log_tail)
    pred = load_sample_set(result.predictions_path)
    gt = load_sample_set(image_benchmark.gt_path, role="gt")
    match_samples(gt, pred)
    colours = pred.arrays["global_orient"]
    assert ((colours > 0) & (colours < 1)).all() and colours.std() > 1e-3  # real, varying pixels in [0, 1]
    assert result.predictions_path.stat().st_uid == 65534  # written by the unprivileged sandbox user


def test_model_errors_are_reported_with_the_entry_scripts_diagnosis(bwrap_ready, tmp_path, image_benchmark):
    archive = make_archive(tmp_path, ReturnsBareTensor())
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)
    assert not result.ok
    assert result.error == "the model must return a dict of tensors or a tuple of the 8 SMPL-X parameter tensors"
    assert "RunnerError: the model returned Tensor" in result.log_tail  # the detail: staff only


def test_time_limit_stops_the_model(bwrap_ready, tmp_path, image_benchmark):
    archive = make_archive(tmp_path, Sleeps())
    limits = RunLimits(time_s=4, memory_bytes=LIMITS.memory_bytes)
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", limits)
    assert not result.ok and result.timed_out
    assert result.error == "the model exceeded the time limit of 4 s and was stopped"
    assert result.duration_s < 15


def test_memory_limit_stops_the_model(bwrap_ready, tmp_path, image_benchmark):
    archive = make_archive(tmp_path, AllocatesTooMuch())
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)
    assert not result.ok and result.oom
    assert result.error == "the model exceeded the memory limit of 3 GiB and was stopped"


def test_sandbox_has_no_network_and_no_secrets(bwrap_ready, tmp_path, image_benchmark, monkeypatch):
    """Run a probe in the very sandbox the runner builds, by swapping the entry script for a probe script."""
    import workers.runners.bubblewrap as bw

    repo = Path(__file__).resolve().parents[2]  # this checkout, wherever it lies
    hidden = ["/etc/shadow", "/etc/passwd", str(repo / "leaderboard"), str(repo / "var"), "/home"]
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, socket\n"
        "print('uid', os.getuid(), 'env', sorted(os.environ), flush=True)\n"
        "for target in [('127.0.0.1', 6379), ('127.0.0.1', 5432), ('1.1.1.1', 53)]:\n"
        "    s = socket.socket(); s.settimeout(2)\n"
        "    print('connect', target, s.connect_ex(target), flush=True)\n"
        f"for path in {hidden!r}:\n"
        "    print('visible', path, os.path.exists(path), flush=True)\n"
        "print('root holds', os.listdir('/root'), flush=True)\n"
        "try:\n    open('/input/x', 'w')\nexcept OSError as e:\n    print('input', e.strerror, flush=True)\n"
    )
    monkeypatch.setattr(bw, "ENTRY_SCRIPT", probe)
    monkeypatch.setenv("DATABASE_URL", "postgres://secret@db/ehps")
    archive = make_archive(tmp_path, ParamsFromPixels())
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)
    log = result.log_tail
    assert "uid 65534" in log
    assert "DATABASE_URL" not in log
    for port in (6379, 5432):
        line = next(ln for ln in log.splitlines() if f"'127.0.0.1', {port}" in ln)
        assert not line.endswith(" 0"), line  # connect_ex == 0 would mean connected
    # Only the bound paths exist: the Python install and venv, not the project, /etc or /home.
    for path in hidden:
        assert f"visible {path} False" in log
    assert "root holds []" in log or "root holds ['.pyenv']" in log
    assert "input Read-only file system" in log


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"format": "onnx"}, 'format must be "torchscript"'),
        ({"batch_size": 0}, "batch_size must be an integer in 1..256"),
        ({"model_file": "missing.pt"}, "the model archive has no 'missing.pt'"),
    ],
)
def test_bad_archive_manifest_is_a_clear_error(tmp_path, image_benchmark, manifest, message):
    from workers.runners import ModelRunError

    archive = make_archive(tmp_path, ParamsFromPixels(), manifest)
    with pytest.raises(ModelRunError, match=message):
        run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)


def test_a_model_cannot_write_its_own_failure_message(bwrap_ready, tmp_path, image_benchmark):
    """Low: a line `EHPS-RUNNER-ERROR: ...` printed by the model became the owner's message (or a fake OOM)."""
    import workers.runners.bubblewrap as bw

    archive = make_archive(tmp_path, WritesItsOwnVerdict())
    result = run_model_submission("archive", archive, image_benchmark.input_dir, tmp_path / "work", LIMITS)
    assert not result.ok and not result.oom
    assert result.error == bw.STATUS_MESSAGES["model_error"] == "the model raised an error while running"
    assert "aGVsZC1vdXQ= chosen by the model" in result.log_tail  # the detail, for staff


def test_a_killed_worker_leaves_no_sandbox_or_folder_after_reaping(bwrap_ready, tmp_path, image_benchmark):
    """Item 5: a pool process that dies mid-run must leave no bwrap process, staging or work folder."""
    import subprocess

    from runner_test_support import start_doomed_worker, wait_for

    from workers.runners import reap_orphans
    from workers.runners.bubblewrap import BubblewrapRunner
    from workers.runners.rundirs import read_owner

    work_root = tmp_path / "runs"
    child = start_doomed_worker("archive", make_archive(tmp_path, Sleeps()), image_benchmark.input_dir, work_root)

    def child_stages() -> list[Path]:
        return [d for d in BubblewrapRunner().stage_base.glob("ehps-*")
                if getattr(read_owner(d), "pid", None) == child.pid]

    def sandbox_pids(stage: Path) -> list[str]:
        return subprocess.run(["pgrep", "-f", str(stage)], capture_output=True, text=True).stdout.split()

    try:
        work_dir = Path(child.stdout.readline().strip())
        stage = wait_for(lambda: next((d for d in child_stages() if sandbox_pids(d)), None), 60, "the sandbox")
    finally:
        child.kill()
        child.wait()
    wait_for(lambda: not sandbox_pids(stage), 10, "the sandbox to die with its parent (--die-with-parent)")
    assert work_dir.exists() and stage.exists()
    reaped = reap_orphans(work_root)
    assert {"submission": "7", "attempt": "1"} in [owner.labels for owner in reaped if owner]
    assert not work_dir.exists() and not stage.exists()
