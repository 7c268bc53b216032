"""Run folders that know who owns them, so whatever kills a worker, its leftovers are found and removed.

Every model run keeps its scratch (work folder, private podman store) in a folder of its own under a
base folder, with an ``owner.json`` naming the process that runs it (host, pid and the process's start
time, so a recycled pid does not count) and the run's labels (submission id, attempt). A folder whose
owner process is gone on this host is an orphan: `reap` hands it to a cleanup function (which stops
what still runs there, e.g. a container whose ``podman run`` client died with the worker) and deletes
it. Workers reap at start-up, before every model run and from the sweeper.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

OWNER_FILE = "owner.json"
RUN_DIR_PREFIX = "ehps-"  # only folders named so are ours: a base folder shared with others is safe to reap
UNOWNED_GRACE_S = 300  # a folder without an owner record may be one being created right now


def process_start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/<pid>/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # the command name (field 2) is in parentheses and may hold spaces: split after its closing one
    return int(stat.rsplit(")", 1)[1].split()[19])


@dataclass(frozen=True)
class RunOwner:
    host: str
    pid: int
    start: int | None
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def current(cls, labels: Mapping[str, str] | None = None) -> RunOwner:
        pid = os.getpid()
        return cls(socket.gethostname(), pid, process_start_ticks(pid), {k: str(v) for k, v in (labels or {}).items()})

    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    def alive(self) -> bool:
        """Only meaningful on this host (a folder on a shared disk may belong to another machine's worker)."""
        return self.on_this_host() and process_start_ticks(self.pid) == self.start


def create_run_dir(base: Path, labels: Mapping[str, str] | None = None, prefix: str = "",
                   base_mode: int = 0o700) -> Path:
    """A fresh private (0700) folder under ``base`` owned by this process; ``base`` is created if missing."""
    if not base.is_dir():
        base.mkdir(parents=True, exist_ok=True)
        os.chmod(base, base_mode)
    path = Path(tempfile.mkdtemp(prefix=RUN_DIR_PREFIX + prefix, dir=base))
    owner = RunOwner.current(labels)
    record = path / OWNER_FILE
    record.write_text(json.dumps({"host": owner.host, "pid": owner.pid, "start": owner.start, "labels": owner.labels}))
    os.chmod(record, 0o600)
    return path


def read_owner(path: Path) -> RunOwner | None:
    try:
        data = json.loads((path / OWNER_FILE).read_text())
        return RunOwner(str(data["host"]), int(data["pid"]), data.get("start"), dict(data.get("labels") or {}))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def orphans(base: Path) -> list[tuple[Path, RunOwner | None]]:
    """Run folders under ``base`` whose owner process is gone (or that never got an owner record)."""
    found = []
    try:
        entries = list(base.iterdir())
    except FileNotFoundError:
        return []
    for path in entries:
        if not path.name.startswith(RUN_DIR_PREFIX) or path.is_symlink() or not path.is_dir():
            continue
        owner = read_owner(path)
        if owner is None:
            try:
                if time.time() - path.stat().st_mtime > UNOWNED_GRACE_S:
                    found.append((path, None))
            except FileNotFoundError:
                pass
        elif owner.on_this_host() and not owner.alive():
            found.append((path, owner))
    return found


def remove_run_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def reap(base: Path, cleanup: Callable[[Path], None] = remove_run_dir) -> list[RunOwner | None]:
    """Clean up every orphaned run folder under ``base``; returns their owners (labels name the runs)."""
    reaped = []
    for path, owner in orphans(base):
        try:
            cleanup(path)
        except Exception:  # one stubborn folder must not stop the others (or the worker's start-up)
            logger.exception("Could not reap the orphaned run folder %s", path)
            continue
        remove_run_dir(path)
        logger.warning("Reaped the orphaned model run %s (owner %s)", path.name, owner)
        reaped.append(owner)
    return reaped
