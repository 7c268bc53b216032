"""Helpers shared by the runner and model-submission tests (a module, not conftest, so tests can import it by name)."""
from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def require_binaries(*names: str) -> None:
    """Skip when a sandbox tool is absent; CI installs them (scripts/system-packages, as root)."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/system-packages installs them as root)")


@contextlib.contextmanager
def isolated_podman_store() -> Iterator[Path]:
    """Keep the tests' images out of the machine's podman store (short path: conmon's socket path limit).

    Sets the runner's environment variables in this process (worker processes started meanwhile inherit them).
    """
    require_binaries("podman", "runc")
    root = Path(tempfile.mkdtemp(prefix="ehps-podman-"))
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("MODEL_RUNNER_OCI_CLI", "podman")
            mp.setenv("MODEL_RUNNER_PODMAN_ROOT", str(root / "s"))  # one private store per run in here
            yield root
    finally:
        for store in [root / "s", *(root / "s").glob("ehps-*")]:  # the shared test store, then any run's
            subprocess.run(["podman", "--root", str(store / "root" if store.name.startswith("ehps-") else store),
                            "--runroot", str(store / "run" if store.name.startswith("ehps-") else root / "run"),
                            "--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                            "rm", "--all", "--force", "--time", "0"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def private_stores(podman_root: Path) -> list[Path]:
    """The per-run podman stores under ``MODEL_RUNNER_PODMAN_ROOT`` (none once every run has finished)."""
    return sorted(podman_root.glob("ehps-*"))


REPO_ROOT = Path(__file__).resolve().parents[2]
RUN_IN_A_CHILD = '''
import sys
from pathlib import Path
from workers.runners import RunLimits, run_model_submission
from workers.runners.rundirs import create_run_dir
kind, artifact, input_dir, work_root = sys.argv[1:5]
work = create_run_dir(Path(work_root), {"submission": "7", "attempt": "1"})
print(work, flush=True)
run_model_submission(kind, Path(artifact), Path(input_dir), work / "work", RunLimits(time_s=300, memory_bytes=3 * 1024**3))
'''


def start_doomed_worker(kind: str, artifact: Path, input_dir: Path, work_root: Path) -> subprocess.Popen:
    """A process running one model, like a worker's pool process (killed by the test, like the OOM killer)."""
    return subprocess.Popen([sys.executable, "-c", RUN_IN_A_CHILD, kind, str(artifact), str(input_dir), str(work_root)],
                            cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                            stdout=subprocess.PIPE, text=True)


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise TimeoutError(f"timed out waiting for {what}")
