"""The light client installs on its own, in seconds, into a fresh virtual environment without a network, and checks
a predictions file there: no torch, no Django, no server code (issue 22, section 2).

scripts/bootstrap (which may use the network) puts the wheels of its dependencies in var/wheels.
"""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WHEELS = REPO_ROOT / "var" / "wheels"
pytestmark = pytest.mark.timeout(180)


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    # No pip configuration from this machine (extra indexes, find-links) and no PYTHONPATH into the repository.
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "PIP_CONFIG_FILE": os.devnull,
           "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=150)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    if not any(WHEELS.glob("numpy-*.whl")):
        pytest.fail("var/wheels holds no wheels: run scripts/bootstrap (it downloads the light client's dependencies)")
    root = tmp_path_factory.mktemp("light-client")
    source = shutil.copytree(REPO_ROOT / "client", root / "client",
                             ignore=shutil.ignore_patterns("__pycache__", "build", "*.egg-info"))
    done = run(sys.executable, "-m", "venv", "--without-pip", root / "venv", cwd=root)  # this pip installs into it:
    assert done.returncode == 0, done.stderr                                             # 7 s less than ensurepip
    done = run(sys.executable, "-m", "pip", "--python", root / "venv" / "bin" / "python", "install", "--quiet",
               "--no-index", "--find-links", WHEELS, source, cwd=root)
    assert done.returncode == 0, done.stdout + done.stderr
    return root


def test_installs_alone(venv):
    probe = ("import importlib.util as u; "
             "print(sorted(m for m in ('torch', 'django', 'celery', 'smplx', 'evaluator', 'leaderboard', 'workers') "
             "if u.find_spec(m)))")
    done = run(venv / "venv" / "bin" / "python", "-c", probe, cwd=venv)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_checks_a_file_and_a_zip(venv):
    ids = [f"s{i}" for i in range(4)]
    buffer = io.BytesIO()
    np.savez(buffer, sample_ids=np.array(ids), vertices=np.zeros((4, 10475, 3), np.float32))
    (venv / "pred.npz").write_bytes(buffer.getvalue())
    (venv / "ids.txt").write_text("\n".join(ids) + "\n")
    ehps = venv / "venv" / "bin" / "ehps"
    done = run(ehps, "check", "pred.npz", "--sample-ids", "ids.txt", cwd=venv)
    assert done.returncode == 0 and "OK: pred.npz holds 4 samples as vertices, all 4 benchmark ids present" in done.stdout, done.stderr
    (venv / "bench-a-sample_ids.txt").write_text("\n".join(ids[:3]) + "\n")  # the page's download, no server
    with zipfile.ZipFile(venv / "all.zip", "w") as archive:
        archive.writestr("bench-a.npz", buffer.getvalue())
    done = run(ehps, "check", "all.zip", cwd=venv)
    assert done.returncode == 1 and "all.zip/bench-a.npz: unknown sample ids 's3'" in done.stderr, done.stdout + done.stderr
