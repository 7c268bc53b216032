"""Helpers shared by the runner and model-submission tests (a module, not conftest, so tests can import it by name)."""
from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
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
            mp.setenv("MODEL_RUNNER_PODMAN_ROOT", str(root / "root"))
            mp.setenv("MODEL_RUNNER_PODMAN_RUNROOT", str(root / "run"))
            yield root
    finally:
        subprocess.run(["podman", "--root", str(root / "root"), "--runroot", str(root / "run"), "--runtime", "runc",
                        "--cgroup-manager", "cgroupfs", "--events-backend", "file", "system", "reset", "--force"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
