"""The shared machine's state for the benches: its load, and one extra busy loop to measure under contention."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


def load_average() -> str:
    """As `uptime` prints it (1, 5, 15 minutes), with the core count: every figure here moves with it."""
    return f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores"


@contextmanager
def busy_loop(enabled: bool = True) -> Iterator[None]:
    """One CPU-bound process beside the measurement (issue 14's reproduction of a contended host)."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
