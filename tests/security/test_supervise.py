"""Issue 12, Low: scripts/serve restarts a dead worker. It runs the worker under scripts/supervise, tested here
with a stand-in command that records its pid, is SIGKILLed, and must come back."""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO_ROOT
from tests.fixtures_live import wait_until

SUPERVISE = REPO_ROOT / "scripts" / "supervise"


def pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_killed_worker_is_started_again_and_stopping_stops_it(tmp_path: Path):
    record = tmp_path / "pids"
    supervisor = subprocess.Popen(
        [str(SUPERVISE), "sh", "-c", f'echo $$ >> "{record}"; exec sleep 60'],
        env={**os.environ, "SUPERVISE_DELAY_S": "0.2"}, start_new_session=True, stderr=subprocess.PIPE, text=True,
    )
    try:
        first = wait_until(lambda: pids(record)[:1], 10, 0.05, "the first run")[0]
        os.kill(first, signal.SIGKILL)  # as the OOM killer would
        second = wait_until(lambda: pids(record)[1:2], 10, 0.05, "a restart")[0]
        assert second != first and alive(second)
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(10)
        assert supervisor.returncode == 0
        wait_until(lambda: not alive(second), 5, 0.05, "the supervised command to stop")
        assert "exited with status" in supervisor.stderr.read()
    finally:
        if supervisor.poll() is None:
            os.killpg(supervisor.pid, signal.SIGKILL)
        for pid in pids(record):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_command_that_keeps_failing_keeps_being_restarted(tmp_path: Path):
    record = tmp_path / "pids"
    supervisor = subprocess.Popen([str(SUPERVISE), "sh", "-c", f'echo $$ >> "{record}"; exit 3'],
                                  env={**os.environ, "SUPERVISE_DELAY_S": "0.1"}, start_new_session=True,
                                  stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: len(pids(record)) >= 3, 10, 0.05, "three runs")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(10)
    time.sleep(0.3)
    settled = len(pids(record))
    time.sleep(0.5)
    assert len(pids(record)) == settled  # stopped for good
