"""Shared vocabulary of the model runners: limits, results, errors and the runner interface.

A runner executes one untrusted model submission against a prepared, read-only input folder
(``manifest.json`` + ``images/``) and leaves ``predictions.npz`` in a fresh output folder. It never
validates the predictions' content: that is `evaluator.formats.load_sample_set`'s job, run by the
caller on `RunResult.predictions_path`.
"""
from __future__ import annotations

import abc
import json
import os
import re
import shutil
import signal
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
    cpus: float | None = None  # CPU quota in cores (OCI: a cgroup quota; archive: that many threads); None = none
    max_files: int = 10_000  # files and folders in /output (inodes are a resource of their own)

    def __post_init__(self) -> None:
        for name in ("time_s", "memory_bytes", "output_bytes", "log_bytes", "pids", "max_files"):
            if getattr(self, name) <= 0:
                raise ValueError(f"RunLimits.{name} must be positive, got {getattr(self, name)!r}")


@dataclass(frozen=True)
class RunHooks:
    """How the caller watches a run: ``should_stop`` is polled about once a second (True = cancel it now);
    ``labels`` name the run on the container and in its run folder's owner record (for reaping orphans)."""

    should_stop: Callable[[], bool] | None = None
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """What happened in one model run.

    ``log_tail`` is the last ``RunLimits.log_bytes`` of the model's merged stdout/stderr. The model ran on
    held-out images, so the log may carry them: it is for staff only, never the submission's owner.
    ``error`` is a short message for the owner when ``ok`` is false, built by us from a fixed vocabulary
    (limits, exit code, our own checks): it never quotes anything the model wrote.
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
    cancelled: bool = False
    meta: dict | None = None  # /output/meta.json when the run wrote one (read_run_meta): checked by the caller


class ModelRunner(abc.ABC):
    """Runs one kind of model artifact. Implementations: `OciRunner`, `BubblewrapRunner`."""

    kind: str

    @abc.abstractmethod
    def available(self) -> tuple[bool, str]:
        """Whether this machine can run this kind, and why not."""

    @abc.abstractmethod
    def run(self, artifact: Path, input_dir: Path, work_dir: Path, limits: RunLimits,
            hooks: RunHooks | None = None) -> RunResult:
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


def file_limit_message(limits: RunLimits) -> str:
    return f"the model created more than {limits.max_files} files or folders in /output and was stopped"


CANCELLED_MESSAGE = "the run was cancelled"
_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+[\w.@+-]*")


def scrub_paths(text: str, names: Mapping[Path | str, str] | None = None) -> str:
    """``text`` (an engine's message about the user's own upload) with server paths replaced.

    Known paths become the given names (the upload -> "the upload"); any other absolute path with a
    folder in it becomes ``<path>``, so no storage layout reaches the user.
    """
    for path, name in sorted((names or {}).items(), key=lambda item: -len(str(item[0]))):
        text = text.replace(str(path), name)
    return _ABSOLUTE_PATH.sub("<path>", text)


def check_input_dir(input_dir: Path) -> None:
    if not (input_dir / MANIFEST_NAME).is_file():
        raise ModelRunError("the benchmark's held-out input is unavailable on the server")


def make_world_readable(root: Path) -> None:
    """Let the sandbox's unprivileged user (uid 65534) read ``root``; call it on a run's private copy only."""
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if stat.S_ISLNK(mode):
            continue
        extra = stat.S_IRGRP | stat.S_IROTH
        if stat.S_ISDIR(mode):
            extra |= stat.S_IXGRP | stat.S_IXOTH
        os.chmod(path, stat.S_IMODE(mode) | extra)


def stage_input(input_dir: Path, work_dir: Path) -> Path:
    """A private, sandbox-readable copy of the held-out input under ``work_dir``.

    The sandbox binds the copy, never the stored folder: the stored images keep their private modes, and
    the paths a model can read in /proc/self/mountinfo name only the run's scratch folder.
    """
    check_input_dir(input_dir)
    staged = work_dir / "input"
    shutil.copytree(input_dir, staged, symlinks=False, copy_function=shutil.copyfile)
    make_world_readable(staged)
    return staged


def fresh_output_dir(work_dir: Path) -> Path:
    """An empty folder the sandbox user may write to (its owner inside the sandbox is not us)."""
    out = work_dir / "output"
    out.mkdir(parents=True, exist_ok=False)
    os.chmod(out, 0o777)
    return out


@dataclass(frozen=True)
class TreeStats:
    bytes: int
    entries: int
    complete: bool  # False: the walk stopped early because ``max_entries`` was passed


def tree_stats(root: Path, max_entries: int | None = None) -> TreeStats:
    """Bytes and entries under ``root``, without following links (a model must not make us read elsewhere).

    Iterative (a model can nest folders deeper than Python's recursion limit) and stops once
    ``max_entries`` is passed (a model can create more files than we want to stat).
    """
    total = entries = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if max_entries is not None and entries > max_entries:
                        return TreeStats(total, entries, complete=False)
                    try:
                        total += entry.stat(follow_symlinks=False).st_size
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                    except FileNotFoundError:  # removed while we were walking
                        pass
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            pass
    return TreeStats(total, entries, complete=True)


def tree_size(root: Path) -> int:
    return tree_stats(root).bytes


def output_over_limits(output_dir: Path, limits: RunLimits) -> str | None:
    """``"output"`` or ``"files"`` when ``output_dir`` broke a cap, else None."""
    stats = tree_stats(output_dir, limits.max_files)
    if not stats.complete or stats.entries > limits.max_files:
        return "files"
    if stats.bytes > limits.output_bytes:
        return "output"
    return None


def collect_predictions(output_dir: Path, limits: RunLimits) -> Path:
    """The predictions file the model left, after the size, count and file-type checks."""
    over = output_over_limits(output_dir, limits)
    if over == "files":
        raise ModelRunError(file_limit_message(limits))
    if over == "output":
        raise ModelRunError(output_limit_message(limits))
    path = output_dir / PREDICTIONS_NAME
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        # The names of what it wrote instead are the model's words: count them, never quote them.
        found = sum(1 for _ in output_dir.iterdir())
        raise ModelRunError(
            f"the model did not write /output/{PREDICTIONS_NAME}"
            + (f" ({found} other file(s) found)" if found else " (the output folder is empty)")
        ) from None
    if not stat.S_ISREG(mode):
        raise ModelRunError(f"/output/{PREDICTIONS_NAME} must be a regular file, not a link or folder")
    return path


META_NAME = "meta.json"
MAX_META_BYTES = 4096


def read_run_meta(output_dir: Path) -> dict | None:
    """``/output/meta.json`` (speed and size figures) if it is a small regular file holding a JSON object, else None.

    The archive runner's entry script writes it; a container may write its own. Its values are not checked here
    (``leaderboard.submissions.efficiency.lenient_figures`` does, and never fails the run for them).
    """
    path = output_dir / META_NAME
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_META_BYTES:
            return None
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


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

    ``sup`` is a `workers.runners.supervise.Supervised`; ``error`` is a message the trusted side of the
    sandbox reported (the TorchScript entry script's diagnosis, from our fixed vocabulary).
    """
    over = output_over_limits(output_dir, limits)
    if sup.stop_reason in ("output", "files"):
        over = sup.stop_reason
    elif killed_by_signal(sup.returncode) == signal.SIGXFSZ:
        over = "output"
    common = dict(returncode=sup.returncode, timed_out=sup.stop_reason == "time",
                  killed=sup.stop_reason is not None or oom, oom=oom, duration_s=sup.duration_s,
                  log_tail=sup.log_tail, cancelled=sup.stop_reason == "cancelled")
    if sup.stop_reason == "cancelled":
        message = CANCELLED_MESSAGE
    elif sup.stop_reason == "time":
        message = time_limit_message(limits)
    elif over == "files":
        message = file_limit_message(limits)
    elif over == "output":
        message = output_limit_message(limits)
    elif oom:
        message = memory_limit_message(limits)
    elif error:
        message = error
    elif sup.returncode in engine_failure_codes:
        message = f"the container could not be started (exit code {sup.returncode})"
    elif sup.returncode != 0:
        sig = killed_by_signal(sup.returncode)
        message = (f"the model was killed by signal {signal.Signals(sig).name}" if sig in signal.valid_signals()
                   else f"the model exited with code {sup.returncode}")
    else:
        try:
            return RunResult(ok=True, predictions_path=collect_predictions(output_dir, limits),
                             meta=read_run_meta(output_dir), **common)
        except ModelRunError as exc:
            message = str(exc)
    return RunResult(ok=False, error=message, **common)
