"""Shared vocabulary of the model runners: limits, results, errors and the runner interface.

A runner executes one untrusted model submission against a prepared, read-only input folder
(``manifest.json`` + ``images/``) and leaves ``predictions.npz`` in a fresh output folder. It never
validates the predictions' content: that is `evaluator.formats.load_sample_set`'s job, run by the
caller on `RunResult.predictions_path`.
"""
from __future__ import annotations

import abc
import os
import signal
import stat
from dataclasses import dataclass
from pathlib import Path

PREDICTIONS_NAME = "predictions.npz"
MANIFEST_NAME = "manifest.json"

# Only these variables reach the model: no DATABASE_URL, broker URL, secret key or cloud credentials.
SANDBOX_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
}


class ModelRunError(Exception):
    """A failure the submission's owner should see; the message is written for them."""


@dataclass(frozen=True)
class RunLimits:
    """Resource limits of one model run. Sizes in bytes."""

    time_s: float = 1800.0
    memory_bytes: int = 8 * 1024**3
    output_bytes: int = 512 * 1024**2
    log_bytes: int = 64 * 1024
    gpu: bool = False
    pids: int = 512
    cpus: float | None = None  # OCI only: CPU quota in cores; None = no quota

    def __post_init__(self) -> None:
        for name in ("time_s", "memory_bytes", "output_bytes", "log_bytes", "pids"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RunLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RunResult:
    """What happened in one model run.

    ``log_tail`` is the last ``RunLimits.log_bytes`` of the model's merged stdout/stderr: show it to the
    submission's owner only. ``error`` is a short user-facing message when ``ok`` is false.
    """

    ok: bool
    returncode: int | None
    timed_out: bool
    killed: bool  # stopped by us or the kernel: time limit, memory limit, output cap
    oom: bool
    duration_s: float
    log_tail: str
    predictions_path: Path | None = None
    error: str | None = None


class ModelRunner(abc.ABC):
    """Runs one kind of model artifact. Implementations: `OciRunner`, `BubblewrapRunner`."""

    kind: str

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this machine can run this kind, and why not."""

    @abc.abstractmethod
    def run(self, artifact: Path, input_dir: Path, work_dir: Path, limits: RunLimits) -> RunResult:
        """Run ``artifact`` on ``input_dir``; scratch files and the output folder go under ``work_dir``."""


def format_bytes(n: int) -> str:
    for unit, size in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n >= size:
            return f"{n / size:g} {unit}"
    return f"{n} B"


def time_limit_message(limits: RunLimits) -> str:
    return f"the model exceeded the time limit of {limits.time_s:g} s and was stopped"


def memory_limit_message(limits: RunLimits) -> str:
    return f"the model exceeded the memory limit of {format_bytes(limits.memory_bytes)} and was stopped"


def output_limit_message(limits: RunLimits) -> str:
    return f"the model's output exceeded the limit of {format_bytes(limits.output_bytes)} and was stopped"


def check_input_dir(input_dir: Path) -> None:
    if not (input_dir / MANIFEST_NAME).is_file():
        raise ModelRunError(f"input folder {input_dir} has no {MANIFEST_NAME}")


def make_world_readable(root: Path) -> None:
    """Let the sandbox's unprivileged user (uid 65534) read the input: it holds only what the model may see."""
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        extra = stat.S_IRGRP | stat.S_IROTH
        if stat.S_ISDIR(mode):
            extra |= stat.S_IXGRP | stat.S_IXOTH
        os.chmod(path, stat.S_IMODE(mode) | extra)


def fresh_output_dir(work_dir: Path) -> Path:
    """An empty folder the sandbox user may write to (its owner inside the sandbox is not us)."""
    out = work_dir / "output"
    out.mkdir(parents=True, exist_ok=False)
    os.chmod(out, 0o777)
    return out


def tree_size(root: Path) -> int:
    """Bytes under ``root`` without following links (a model must not make us read elsewhere)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except FileNotFoundError:  # removed while we were walking
                pass
    return total


def collect_predictions(output_dir: Path, limits: RunLimits) -> Path:
    """The predictions file the model left, after the size and file-type checks."""
    if tree_size(output_dir) > limits.output_bytes:
        raise ModelRunError(output_limit_message(limits))
    path = output_dir / PREDICTIONS_NAME
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        found = sorted(p.name for p in output_dir.iterdir())[:10]
        raise ModelRunError(
            f"the model did not write /output/{PREDICTIONS_NAME}"
            + (f" (found: {', '.join(found)})" if found else " (the output folder is empty)")
        ) from None
    if not stat.S_ISREG(mode):
        raise ModelRunError(f"/output/{PREDICTIONS_NAME} must be a regular file, not a link or folder")
    return path


def killed_by_signal(returncode: int) -> int | None:
    """The signal that ended the payload: Popen reports -N, shells/engines/bwrap report 128+N."""
    if returncode < 0:
        return -returncode
    if 128 < returncode < 160:
        return returncode - 128
    return None


def finish_run(sup, output_dir: Path, limits: RunLimits, *, oom: bool = False, error: str | None = None,
               engine_failure_codes: frozenset[int] | set[int] = frozenset()) -> RunResult:
    """Turn a supervised run into a `RunResult`, most specific reason first.

    ``sup`` is a `workers.runners.supervise.Supervised`; ``error`` is a message the sandboxed side
    already reported (the TorchScript runner's own diagnosis).
    """
    over_output = (sup.stop_reason == "output" or killed_by_signal(sup.returncode) == signal.SIGXFSZ
                   or tree_size(output_dir) > limits.output_bytes)
    common = dict(returncode=sup.returncode, timed_out=sup.stop_reason == "time",
                  killed=sup.stop_reason is not None or oom, oom=oom, duration_s=sup.duration_s,
                  log_tail=sup.log_tail)
    if sup.stop_reason == "time":
        message = time_limit_message(limits)
    elif over_output:
        message = output_limit_message(limits)
    elif oom:
        message = memory_limit_message(limits)
    elif error:
        message = error
    elif sup.returncode in engine_failure_codes:
        message = f"the container could not be started (exit code {sup.returncode}); see the log"
    elif sup.returncode != 0:
        sig = killed_by_signal(sup.returncode)
        message = (f"the model was killed by signal {signal.Signals(sig).name}; see the log" if sig in signal.valid_signals()
                   else f"the model exited with code {sup.returncode}; see the log")
    else:
        try:
            return RunResult(ok=True, predictions_path=collect_predictions(output_dir, limits), **common)
        except ModelRunError as exc:
            message = str(exc)
    return RunResult(ok=False, error=message, **common)
