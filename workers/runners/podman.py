"""OCI container runner: load the submitted image archive into a store of its own, run it sealed off, remove both.

The container gets: no network (``--network=none``), a read-only root filesystem, the image's ``VOLUME``
declarations ignored (they would be writable, uncapped and outlive the container), uid/gid 65534, no capabilities,
``no-new-privileges``, a memory limit with no extra swap, a pids limit, a CPU quota, a per-file size
limit (``--ulimit fsize``), a private copy of the input bound read-only at ``/input``, a fresh
``/output`` (size and file count watched), and a small ``/tmp`` tmpfs (counted against its memory). Nothing from the worker's environment is passed in. Logs are not kept by the engine
(``--log-driver none``); we read the attached stream and keep its tail.

With podman every run has a private image store (``--root``/``--runroot`` in a run folder of its own),
so an upload can never retag, replace or even see another image, a half-finished load leaves nothing
behind, and removing the run is deleting its folder. Before anything is loaded the archive is read as a
stream and refused if it unpacks past ``MODEL_RUNNER_MAX_IMAGE_BYTES`` or ``MODEL_RUNNER_MAX_IMAGE_ENTRIES``
or the disk lacks the room (`workers.runners.image_archive`). Run folders carry an owner record; those
of a dead worker process (and the containers still running in them) are reaped by `reap_orphans`.

Configuration (environment variables, read by `OciConfig.from_env`):

- ``MODEL_RUNNER_OCI_CLI`` — ``podman`` (default) or ``docker`` (docker has one shared store: archives
  naming an image that already exists are refused instead).
- ``MODEL_RUNNER_OCI_RUNTIME`` — podman's OCI runtime, default ``runc`` (crun fails on cgroup-v1 hosts);
  empty for podman's own default.
- ``MODEL_RUNNER_PODMAN_ROOT`` — the folder holding the per-run stores (default ``<tmp>/ehps-podman``;
  keep it short: podman refuses a run root longer than 50 characters).
- ``MODEL_RUNNER_PODMAN_CGROUP_MANAGER`` — default ``cgroupfs`` (works without systemd).
- ``MODEL_RUNNER_OCI_GPU_ARGS`` — extra ``run`` arguments when the run asks for a GPU; default
  ``--device nvidia.com/gpu=all`` (CDI, podman) or ``--gpus all`` (docker).
- ``MODEL_RUNNER_MAX_IMAGE_BYTES`` / ``MODEL_RUNNER_MAX_IMAGE_ENTRIES`` — what an image may unpack to
  (default 16 GiB, 1,000,000 files); ``MODEL_RUNNER_MIN_FREE_BYTES`` — disk space left free after
  loading (default 2 GiB); ``MODEL_RUNNER_ENGINE_TIMEOUT_S`` — load/inspect/remove time limit (600 s).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from workers.runners import rundirs
from workers.runners.base import (
    SANDBOX_ENV,
    ModelRunError,
    ModelRunner,
    RunHooks,
    RunLimits,
    RunResult,
    finish_run,
    format_bytes,
    fresh_output_dir,
    scrub_paths,
    stage_input,
)
from workers.runners.image_archive import ROOTFS_ENTRYPOINT, ArchiveInfo, ArchiveRefused, archive_tags, inspect_archive
from workers.runners.supervise import supervise

SANDBOX_USER = "65534:65534"
TMPFS_BYTES = 256 * 1024**2
ENGINE_FAILURE_CODES = {125, 126, 127}  # podman/docker: engine error, cannot invoke, not found
MAX_RUNROOT_CHARS = 50  # podman's own limit
# Engine variables the CLI itself may need; everything else (DATABASE_URL, broker URLs, ...) is dropped.
ENGINE_ENV_PASSTHROUGH = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF",
                          "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR")
LABEL_PREFIX = "org.ehps."


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


@dataclass(frozen=True)
class OciConfig:
    cli: str = "podman"
    runtime: str = "runc"
    store_base: str = ""
    cgroup_manager: str = "cgroupfs"
    gpu_args: tuple[str, ...] = field(default=())
    max_image_bytes: int = 16 * 1024**3
    max_image_entries: int = 1_000_000
    min_free_bytes: int = 2 * 1024**3
    engine_timeout_s: float = 600.0

    @classmethod
    def from_env(cls) -> OciConfig:
        cli = os.environ.get("MODEL_RUNNER_OCI_CLI", "podman")
        if cli not in ("podman", "docker"):
            raise ValueError(f"MODEL_RUNNER_OCI_CLI must be podman or docker, got {cli!r}")
        default_gpu = "--device nvidia.com/gpu=all" if cli == "podman" else "--gpus all"
        return cls(
            cli=cli,
            runtime=os.environ.get("MODEL_RUNNER_OCI_RUNTIME", "runc"),
            store_base=os.environ.get("MODEL_RUNNER_PODMAN_ROOT") or str(Path(tempfile.gettempdir()) / "ehps-podman"),
            cgroup_manager=os.environ.get("MODEL_RUNNER_PODMAN_CGROUP_MANAGER", "cgroupfs"),
            gpu_args=tuple(shlex.split(os.environ.get("MODEL_RUNNER_OCI_GPU_ARGS", default_gpu))),
            max_image_bytes=_env_int("MODEL_RUNNER_MAX_IMAGE_BYTES", cls.max_image_bytes),
            max_image_entries=_env_int("MODEL_RUNNER_MAX_IMAGE_ENTRIES", cls.max_image_entries),
            min_free_bytes=_env_int("MODEL_RUNNER_MIN_FREE_BYTES", cls.min_free_bytes),
            engine_timeout_s=float(os.environ.get("MODEL_RUNNER_ENGINE_TIMEOUT_S") or cls.engine_timeout_s),
        )

    @property
    def private_stores(self) -> bool:
        return self.cli == "podman"

    def base_command(self, store: Path | None = None) -> list[str]:
        """The CLI with its global options (podman: runtime and the run's private store; docker: none)."""
        cmd = [self.cli]
        if self.cli == "podman":
            options = [("--runtime", self.runtime), ("--cgroup-manager", self.cgroup_manager)]
            if store is not None:
                options += [("--root", str(store / "root")), ("--runroot", str(store / "run"))]
            for flag, value in options:
                if value:
                    cmd += [flag, value]
            cmd += ["--events-backend", "file"]  # no journald/systemd on our workers
        return cmd


def engine_env(store: Path | None = None) -> dict[str, str]:
    env = dict(SANDBOX_ENV)
    env.update({k: os.environ[k] for k in ENGINE_ENV_PASSTHROUGH if k in os.environ})
    if store is not None:  # the engine's temporary copies of layers go to the run's folder, removed with it
        (store / "tmp").mkdir(exist_ok=True)
        env["TMPDIR"] = str(store / "tmp")
    return env


def archive_kind(artifact: Path) -> str:
    """``"image-archive"`` or ``"rootfs"`` (see `workers.runners.image_archive`), as a ModelRunError."""
    from workers.runners.image_archive import archive_kind as kind_of

    try:
        return kind_of(artifact)
    except ArchiveRefused as exc:
        raise ModelRunError(str(exc)) from None


class OciRunner(ModelRunner):
    kind = "oci"

    def __init__(self, config: OciConfig | None = None) -> None:
        self.config = config or OciConfig.from_env()

    # -- engine helpers -------------------------------------------------------------------------
    def _engine(self, *args: str, store: Path | None = None, timeout: float | None = None, check: bool = True,
                names: Mapping[Path | str, str] | None = None) -> subprocess.CompletedProcess:
        timeout = timeout or self.config.engine_timeout_s
        try:
            proc = subprocess.run([*self.config.base_command(store), *args], capture_output=True, text=True,
                                  env=engine_env(store), timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ModelRunError(f"{self.config.cli} {args[0]} did not finish within {timeout:g} s and was "
                                "stopped (is the image very large?)") from None
        if check and proc.returncode != 0:
            detail = scrub_paths((proc.stderr or proc.stdout).strip()[-1000:], names)
            raise ModelRunError(f"{self.config.cli} {args[0]} failed: {detail}")
        return proc

    def available(self) -> tuple[bool, str]:
        if shutil.which(self.config.cli) is None:
            return False, f"{self.config.cli} is not installed"
        if self.config.cli == "podman" and self.config.runtime and shutil.which(self.config.runtime) is None:
            return False, f"OCI runtime {self.config.runtime} is not installed"
        try:
            proc = self._engine("info", "--format", "{{json .}}" if self.config.cli == "podman" else "{{.ID}}",
                                timeout=60, check=False)
        except (OSError, ModelRunError) as exc:
            return False, f"{self.config.cli} info failed: {exc}"
        if proc.returncode != 0:
            return False, f"{self.config.cli} info failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
        return True, f"{self.config.cli} is ready"

    # -- per-run stores -------------------------------------------------------------------------
    def new_store(self, labels: Mapping[str, str]) -> Path | None:
        if not self.config.private_stores:
            return None
        store = rundirs.create_run_dir(Path(self.config.store_base), labels)
        if len(str(store / "run")) > MAX_RUNROOT_CHARS:
            rundirs.remove_run_dir(store)
            raise RuntimeError(f"MODEL_RUNNER_PODMAN_ROOT {self.config.store_base!r} is too long for podman's "
                               f"run root (at most {MAX_RUNROOT_CHARS - 18} characters)")
        return store

    def destroy_store(self, store: Path) -> None:
        """Stop and remove everything in a run's private store, then the store itself."""
        for args in (("rm", "--all", "--force", "--volumes", "--time", "0"), ("rmi", "--all", "--force"),
                     ("volume", "prune", "--force")):
            try:
                self._engine(*args, store=store, check=False, timeout=120)
            except ModelRunError:
                pass  # an engine that hangs must not keep the folder; unmounting below still frees it
        _unmount_below(store)
        rundirs.remove_run_dir(store)

    def reap_orphans(self) -> list[rundirs.RunOwner | None]:
        """Remove the stores (and kill the containers) of runs whose worker process is gone."""
        if not self.config.private_stores:
            return []
        return rundirs.reap(Path(self.config.store_base), self.destroy_store)

    # -- loading --------------------------------------------------------------------------------
    def inspect_upload(self, artifact: Path) -> ArchiveInfo:
        try:
            return inspect_archive(artifact, self.config.max_image_bytes, self.config.max_image_entries)
        except ArchiveRefused as exc:
            raise ModelRunError(str(exc)) from None

    def check_room(self, info: ArchiveInfo, artifact: Path, store: Path | None) -> None:
        """The store's disk must keep MODEL_RUNNER_MIN_FREE_BYTES free after this image is unpacked."""
        where = store or Path(tempfile.gettempdir())
        free = shutil.disk_usage(where).free
        needed = info.unpacked_bytes + artifact.stat().st_size + self.config.min_free_bytes
        if free < needed:
            raise ModelRunError(
                f"the server has too little free disk space to unpack this image now ({format_bytes(free)} free, "
                f"{format_bytes(needed)} needed); please try again later or make the image smaller"
            )

    def load_image(self, artifact: Path, kind: str, store: Path | None = None) -> tuple[str, list[str]]:
        """Put the upload into the (run's) store. Returns (image id, references to remove afterwards)."""
        names = {artifact: "the upload"}
        if kind == "rootfs":
            ref = f"localhost/ehps-submission-{uuid.uuid4().hex}:latest"
            self._engine("import", "--change", f'ENTRYPOINT ["{ROOTFS_ENTRYPOINT}"]', str(artifact), ref,
                         store=store, names=names)
            refs = [ref]
        else:
            if store is None:
                self._refuse_existing_tags(artifact)
            out = self._engine("load", "-i", str(artifact), store=store, names=names).stdout
            refs = [r.strip() for line in re.findall(r"Loaded image(?:\(s\)| ID)?: *(.+)", out) for r in line.split(",")]
            refs = [r for r in refs if r]
            if not refs:
                raise ModelRunError(f"{self.config.cli} load reported no image")
            if len(refs) > 1:
                self._remove_image("", refs, store)
                raise ModelRunError(f"the image archive holds {len(refs)} images; upload exactly one")
        image_id = self._engine("image", "inspect", "--format", "{{.Id}}", refs[0], store=store).stdout.strip()
        return image_id, refs

    def _refuse_existing_tags(self, artifact: Path) -> None:
        """docker's shared store: loading would move an existing tag to the upload, so refuse such archives."""
        for tag in archive_tags(artifact):
            if self._engine("image", "inspect", tag, check=False, timeout=60).returncode == 0:
                raise ModelRunError(f"the image archive is tagged {tag!r}, a name already used on the server; "
                                    "save it without that tag or under another name")

    def _remove_image(self, image_id: str, refs: list[str], store: Path | None) -> None:
        # No --force: an image another run still uses stays; untagging our references is enough then.
        for ref in [*refs, image_id]:
            if ref:
                self._engine("rmi", ref, store=store, check=False, timeout=120)

    def _remove_container(self, name: str, store: Path | None) -> None:
        # podman's `rm -f` first waits the stop timeout (10 s) after SIGTERM; docker's kills at once.
        no_grace = ["--time", "0"] if self.config.cli == "podman" else []
        try:
            self._engine("rm", "-f", "-v", *no_grace, name, store=store, check=False, timeout=120)
        except ModelRunError:
            pass  # the store (podman) or the reaper removes it later

    def run_command(self, image_id: str, name: str, input_dir: Path, output_dir: Path, limits: RunLimits,
                    store: Path | None = None, labels: Mapping[str, str] | None = None,
                    volumes: Sequence[str] = ()) -> list[str]:
        memory = str(limits.memory_bytes)
        tmpfs = f"rw,nosuid,nodev,size={min(TMPFS_BYTES, limits.memory_bytes)},mode=1777"
        cmd = [
            *self.config.base_command(store), "run", "--name", name, "--pull", "never",
            "--network", "none", "--read-only", "--user", SANDBOX_USER, "--cap-drop", "all",
            "--security-opt", "no-new-privileges", "--memory", memory, "--memory-swap", memory,
            "--pids-limit", str(limits.pids), "--log-driver", "none", "--hostname", "model",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--ulimit", "core=0:0",
            # one byte over the cap, so a model stopped by it has provably exceeded the cap
            "--ulimit", f"fsize={limits.output_bytes + 1}:{limits.output_bytes + 1}",
            "--tmpfs", f"/tmp:{tmpfs}",
            "-v", f"{input_dir}:/input:ro", "-v", f"{output_dir}:/output:rw",
        ]
        if self.config.cli == "podman":
            cmd += ["--image-volume", "ignore"]
        else:  # docker cannot ignore image volumes: cover each with a small tmpfs (counted as memory)
            for path in volumes:
                cmd += ["--tmpfs", f"{path}:rw,noexec,nosuid,size=1m"]
        for key, value in sorted({**(labels or {})}.items()):
            cmd += ["--label", f"{LABEL_PREFIX}{key}={value}"]
        if limits.cpus:
            cmd += ["--cpus", f"{limits.cpus:g}"]
        if limits.gpu:
            cmd += list(self.config.gpu_args)
        return [*cmd, image_id]

    def _image_volumes(self, image_id: str, store: Path | None) -> list[str]:
        out = self._engine("image", "inspect", "--format", "{{json .Config.Volumes}}", image_id, store=store,
                           check=False).stdout
        try:
            return sorted(json.loads(out) or {})
        except (json.JSONDecodeError, TypeError):
            return []

    # -- the run --------------------------------------------------------------------------------
    def run(self, artifact: Path, input_dir: Path, work_dir: Path, limits: RunLimits,
            hooks: RunHooks | None = None) -> RunResult:
        hooks = hooks or RunHooks()
        input_dir, work_dir = input_dir.resolve(), work_dir.resolve()
        info = self.inspect_upload(artifact)
        staged_input = stage_input(input_dir, work_dir)
        output_dir = fresh_output_dir(work_dir)
        store = self.new_store(hooks.labels)
        image_id, refs = "", []
        try:
            self.check_room(info, artifact, store)
            image_id, refs = self.load_image(artifact, info.kind, store)
            volumes = [] if store is not None else self._image_volumes(image_id, store)
            name = f"ehps-run-{uuid.uuid4().hex[:16]}"
            labels = {**hooks.labels, "run": store.name if store else name}
            engine_cwd = work_dir / "engine"  # conmon drops its oom marker here; the model cannot write here
            engine_cwd.mkdir()
            try:
                sup = supervise(
                    self.run_command(image_id, name, staged_input, output_dir, limits, store, labels, volumes),
                    env=engine_env(store), limits=limits, output_dir=output_dir,
                    on_stop=lambda: self._remove_container(name, store), should_stop=hooks.should_stop,
                    cwd=engine_cwd,
                )
                oom = sup.stop_reason is None and self._oom_killed(name, store, engine_cwd)
            finally:
                self._remove_container(name, store)
        finally:
            if store is not None:
                self.destroy_store(store)
            else:
                self._remove_image(image_id, refs, None)
        return finish_run(sup, output_dir, limits, oom=oom, engine_failure_codes=ENGINE_FAILURE_CODES)

    def _oom_killed(self, name: str, store: Path | None, engine_cwd: Path) -> bool:
        """The engine's OOM flag, or conmon's ``oom`` marker (cgroup v1 hosts, where the flag stays false).

        A SIGKILL alone is no proof: anyone may send one, the model itself included.
        """
        if (engine_cwd / "oom").exists():
            return True
        proc = self._engine("inspect", "--format", "{{json .State}}", name, store=store, check=False, timeout=60)
        try:
            state = json.loads(proc.stdout)
        except json.JSONDecodeError:
            state = {}
        return bool(state.get("OOMKilled"))


def _unmount_below(path: Path) -> None:
    """Lazily unmount whatever the engine left mounted under ``path`` (deepest first), so it can be deleted."""
    prefix = str(path.resolve()) + "/"
    try:
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    except OSError:
        return
    for target in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", target], capture_output=True, check=False)
