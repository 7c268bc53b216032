"""Run a sandbox command under a wall-clock limit and an output-size watchdog, keeping only the log's tail."""
from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from workers.runners.base import RunLimits, output_over_limits

POLL_S = 0.1
OUTPUT_CHECK_EVERY_S = 0.5
STOP_CHECK_EVERY_S = 1.0  # how often the caller's should_stop (a database query) is asked


class TailBuffer:
    """Keeps the last ``limit`` bytes written to it, and how many were dropped before them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.dropped = 0
        self._data = bytearray()

    def write(self, chunk: bytes) -> None:
        self._data += chunk
        excess = len(self._data) - self.limit
        if excess > 0:
            del self._data[:excess]
            self.dropped += excess

    def text(self) -> str:
        body = self._data.decode("utf-8", errors="replace")
        if self.dropped:
            return f"[... {self.dropped} earlier bytes of output dropped ...]\n{body}"
        return body


@dataclass(frozen=True)
class Supervised:
    returncode: int
    duration_s: float
    stop_reason: str | None  # "time", "output", "files" or "cancelled" when we stopped it
    log_tail: str


def _drain(stream, buffer: TailBuffer) -> None:
    for chunk in iter(lambda: stream.read1(65536), b""):
        buffer.write(chunk)


def supervise(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str],
    limits: RunLimits,
    output_dir: Path,
    on_stop: Callable[[], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    cwd: Path | None = None,
    pass_fds: Sequence[int] = (),
) -> Supervised:
    """Run ``cmd`` in its own process group; stop it at the time limit, when ``output_dir`` breaks the
    size or file-count cap, or when ``should_stop()`` (the caller's cancel check) turns true.

    ``on_stop`` runs before the process group is killed, for sandboxes whose payload does not die with
    the client process (a podman container keeps running when ``podman run`` is killed). ``cwd`` keeps
    files the engine drops in its working directory (conmon writes an ``oom`` marker there) out of ours.
    """
    buffer = TailBuffer(limits.log_bytes)
    start = time.monotonic()
    proc = subprocess.Popen(
        list(cmd),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(env),
        cwd=cwd,
        pass_fds=tuple(pass_fds),
        start_new_session=True,  # so we can kill everything it spawned outside the sandbox, too
    )
    reader = threading.Thread(target=_drain, args=(proc.stdout, buffer), daemon=True)
    reader.start()
    stop_reason: str | None = None
    next_output_check = start + OUTPUT_CHECK_EVERY_S
    next_stop_check = start + STOP_CHECK_EVERY_S
    try:
        while proc.poll() is None:
            now = time.monotonic()
            if now - start > limits.time_s:
                stop_reason = "time"
            elif now >= next_output_check:
                next_output_check = now + OUTPUT_CHECK_EVERY_S
                stop_reason = output_over_limits(output_dir, limits)
            if not stop_reason and should_stop is not None and now >= next_stop_check:
                next_stop_check = now + STOP_CHECK_EVERY_S
                if should_stop():
                    stop_reason = "cancelled"
            if stop_reason:
                _stop(proc, on_stop)
                break
            time.sleep(POLL_S)
    except BaseException:
        _stop(proc, on_stop)
        raise
    finally:
        proc.wait()
        reader.join(timeout=5)
        proc.stdout.close()
    return Supervised(proc.returncode, time.monotonic() - start, stop_reason, buffer.text())


def _stop(proc: subprocess.Popen, on_stop: Callable[[], None] | None) -> None:
    if on_stop is not None:
        on_stop()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
