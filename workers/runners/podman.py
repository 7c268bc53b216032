"""OCI container runner: load the submitted image archive, run it sealed off, remove it.

The container gets: no network (``--network=none``), a read-only root filesystem, uid/gid 65534, no
capabilities, ``no-new-privileges``, a memory limit with no extra swap, a pids limit, a per-file size
limit (``--ulimit fsize``), ``/input`` bound read-only, a fresh ``/output`` and a small ``/tmp`` tmpfs
(counted against its memory). Nothing from the worker's environment is passed in. Logs are not kept
by the engine (``--log-driver none``); we read the attached stream and keep its tail.

Configuration (environment variables, read by `OciConfig.from_env`):

- ``MODEL_RUNNER_OCI_CLI`` — ``podman`` (default) or ``docker``.
- ``MODEL_RUNNER_OCI_RUNTIME`` — podman's OCI runtime, default ``runc`` (crun fails on cgroup-v1 hosts);
  empty for podman's own default.
- ``MODEL_RUNNER_PODMAN_ROOT`` / ``MODEL_RUNNER_PODMAN_RUNROOT`` — image storage and state folders
  (podman defaults when unset); tests point them at a temporary folder.
- ``MODEL_RUNNER_PODMAN_CGROUP_MANAGER`` — default ``cgroupfs`` (works without systemd).
- ``MODEL_RUNNER_OCI_GPU_ARGS`` — extra ``run`` arguments when the run asks for a GPU; default
  ``--device nvidia.com/gpu=all`` (CDI, podman) or ``--gpus all`` (docker).
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import tarfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from workers.runners.base import (
    SANDBOX_ENV,
    ModelRunError,
    ModelRunner,
    RunLimits,
    RunResult,
    check_input_dir,
    finish_run,
    fresh_output_dir,
    make_world_readable,
)
from workers.runners.supervise import supervise

SANDBOX_USER = "65534:65534"
ROOTFS_ENTRYPOINT = "/entrypoint"
TMPFS_BYTES = 256 * 1024**2
ENGINE_TIMEOUT_S = 600  # load/import of a multi-GB image can take a while
ENGINE_FAILURE_CODES = {125, 126, 127}  # podman/docker: engine error, cannot invoke, not found
# Engine variables the CLI itself may need; everything else (DATABASE_URL, broker URLs, ...) is dropped.
ENGINE_ENV_PASSTHROUGH = ("CONTAINERS_CONF", "CONTAINERS_STORAGE_CONF", "CONTAINERS_REGISTRIES_CONF",
                          "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "DOCKER_HOST", "DOCKER_CONFIG", "TMPDIR")


@dataclass(frozen=True)
class OciConfig:
    cli: str = "podman"
    runtime: str = "runc"
    root: str = ""
    runroot: str = ""
    cgroup_manager: str = "cgroupfs"
    gpu_args: tuple[str, ...] = field(default=())

    @classmethod
    def from_env(cls) -> OciConfig:
        cli = os.environ.get("MODEL_RUNNER_OCI_CLI", "podman")
        if cli not in ("podman", "docker"):
            raise ValueError(f"MODEL_RUNNER_OCI_CLI must be podman or docker, got {cli!r}")
        default_gpu = "--device nvidia.com/gpu=all" if cli == "podman" else "--gpus all"
        return cls(
            cli=cli,
            runtime=os.environ.get("MODEL_RUNNER_OCI_RUNTIME", "runc"),
            root=os.environ.get("MODEL_RUNNER_PODMAN_ROOT", ""),
            runroot=os.environ.get("MODEL_RUNNER_PODMAN_RUNROOT", ""),
            cgroup_manager=os.environ.get("MODEL_RUNNER_PODMAN_CGROUP_MANAGER", "cgroupfs"),
            gpu_args=tuple(shlex.split(os.environ.get("MODEL_RUNNER_OCI_GPU_ARGS", default_gpu))),
        )

    def base_command(self) -> list[str]:
        """The CLI with its global options (podman's storage and runtime; docker has none we set)."""
        cmd = [self.cli]
        if self.cli == "podman":
            for flag, value in (("--runtime", self.runtime), ("--root", self.root), ("--runroot", self.runroot),
                                ("--cgroup-manager", self.cgroup_manager)):
                if value:
                    cmd += [flag, value]
            cmd += ["--events-backend", "file"]  # no journald/systemd on our workers
        return cmd


def engine_env() -> dict[str, str]:
    env = dict(SANDBOX_ENV)
    env.update({k: os.environ[k] for k in ENGINE_ENV_PASSTHROUGH if k in os.environ})
    return env


def archive_kind(artifact: Path) -> str:
    """``"image-archive"`` (docker/podman save, OCI layout) or ``"rootfs"`` (flat tar with /entrypoint)."""
    try:
        with tarfile.open(artifact, "r:*") as tar:
            has_entrypoint = False
            for member in tar:
                name = member.name.removeprefix("./").rstrip("/")
                if name in ("manifest.json", "oci-layout"):
                    return "image-archive"
                if name == ROOTFS_ENTRYPOINT.lstrip("/") and (member.isfile() or member.issym()):
                    has_entrypoint = True
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ModelRunError(f"the container upload is not a readable tar archive ({exc})") from None
    if has_entrypoint:
        return "rootfs"
    raise ModelRunError(
        "the container upload is neither an image archive (`podman save` / `docker save`: it has no "
        f"manifest.json or oci-layout) nor a root filesystem tar with an executable {ROOTFS_ENTRYPOINT}"
    )


class OciRunner(ModelRunner):
    kind = "oci"

    def __init__(self, config: OciConfig | None = None) -> None:
        self.config = config or OciConfig.from_env()

    # -- engine helpers -------------------------------------------------------------------------
    def _engine(self, *args: str, timeout: float = ENGINE_TIMEOUT_S, check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run([*self.config.base_command(), *args], capture_output=True, text=True,
                              env=engine_env(), timeout=timeout, stdin=subprocess.DEVNULL)
        if check and proc.returncode != 0:
            raise ModelRunError(f"{self.config.cli} {args[0]} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
        return proc

    def available(self) -> tuple[bool, str]:
        if shutil.which(self.config.cli) is None:
            return False, f"{self.config.cli} is not installed"
        if self.config.cli == "podman" and self.config.runtime and shutil.which(self.config.runtime) is None:
            return False, f"OCI runtime {self.config.runtime} is not installed"
        try:
            proc = self._engine("info", "--format", "{{json .}}" if self.config.cli == "podman" else "{{.ID}}",
                                timeout=60, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return False, f"{self.config.cli} info failed: {exc}"
        if proc.returncode != 0:
            return False, f"{self.config.cli} info failed: {(proc.stderr or proc.stdout).strip()[-500:]}"
        return True, f"{self.config.cli} is ready"

    def load_image(self, artifact: Path) -> tuple[str, list[str]]:
        """Put the upload into the engine's store. Returns (image id, references to remove afterwards)."""
        if archive_kind(artifact) == "rootfs":
            ref = f"localhost/ehps-submission-{uuid.uuid4().hex}:latest"
            self._engine("import", "--change", f'ENTRYPOINT ["{ROOTFS_ENTRYPOINT}"]', str(artifact), ref)
            refs = [ref]
        else:
            out = self._engine("load", "-i", str(artifact)).stdout
            refs = [r.strip() for line in re.findall(r"Loaded image(?:\(s\)| ID)?: *(.+)", out) for r in line.split(",")]
            refs = [r for r in refs if r]
            if not refs:
                raise ModelRunError(f"{self.config.cli} load reported no image: {out.strip()[-500:]}")
            if len(refs) > 1:
                self._remove_image("", refs)
                raise ModelRunError(f"the image archive holds {len(refs)} images ({', '.join(refs)}); upload exactly one")
        image_id = self._engine("image", "inspect", "--format", "{{.Id}}", refs[0]).stdout.strip()
        return image_id, refs

    def _remove_image(self, image_id: str, refs: list[str]) -> None:
        # No --force: an image another run still uses stays; untagging our references is enough then.
        for ref in [*refs, image_id]:
            if ref:
                self._engine("rmi", ref, check=False, timeout=120)

    def _remove_container(self, name: str) -> None:
        # podman's `rm -f` first waits the stop timeout (10 s) after SIGTERM; docker's kills at once.
        no_grace = ["--time", "0"] if self.config.cli == "podman" else []
        self._engine("rm", "-f", *no_grace, name, check=False, timeout=120)

    def run_command(self, image_id: str, name: str, input_dir: Path, output_dir: Path, limits: RunLimits) -> list[str]:
        memory = str(limits.memory_bytes)
        cmd = [
            *self.config.base_command(), "run", "--name", name, "--pull", "never",
            "--network", "none", "--read-only", "--user", SANDBOX_USER, "--cap-drop", "all",
            "--security-opt", "no-new-privileges", "--memory", memory, "--memory-swap", memory,
            "--pids-limit", str(limits.pids), "--log-driver", "none", "--hostname", "model",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096", "--ulimit", "core=0:0",
            # one byte over the cap, so a model stopped by it has provably exceeded the cap
            "--ulimit", f"fsize={limits.output_bytes + 1}:{limits.output_bytes + 1}",
            "--tmpfs", f"/tmp:rw,nosuid,nodev,size={min(TMPFS_BYTES, limits.memory_bytes)},mode=1777",
            "-v", f"{input_dir}:/input:ro", "-v", f"{output_dir}:/output:rw",
        ]
        if limits.cpus:
            cmd += ["--cpus", f"{limits.cpus:g}"]
        if limits.gpu:
            cmd += list(self.config.gpu_args)
        return [*cmd, image_id]

    # -- the run --------------------------------------------------------------------------------
    def run(self, artifact: Path, input_dir: Path, work_dir: Path, limits: RunLimits) -> RunResult:
        input_dir, work_dir = input_dir.resolve(), work_dir.resolve()
        check_input_dir(input_dir)
        make_world_readable(input_dir)
        output_dir = fresh_output_dir(work_dir)
        image_id, refs = self.load_image(artifact)
        name = f"ehps-run-{uuid.uuid4().hex[:16]}"
        try:
            sup = supervise(
                self.run_command(image_id, name, input_dir, output_dir, limits),
                env=engine_env(), time_limit_s=limits.time_s, output_dir=output_dir,
                output_limit=limits.output_bytes, log_limit=limits.log_bytes,
                on_stop=lambda: self._remove_container(name), cwd=work_dir,
            )
            oom = sup.stop_reason is None and self._oom_killed(name, sup.returncode)
        finally:
            self._remove_container(name)
            self._remove_image(image_id, refs)
        return finish_run(sup, output_dir, limits, oom=oom, engine_failure_codes=ENGINE_FAILURE_CODES)

    def _oom_killed(self, name: str, returncode: int) -> bool:
        """The engine's OOM flag, or (cgroup v1 often leaves it false) a SIGKILL we did not send."""
        proc = self._engine("inspect", "--format", "{{json .State}}", name, check=False, timeout=60)
        try:
            state = json.loads(proc.stdout)
        except json.JSONDecodeError:
            state = {}
        return bool(state.get("OOMKilled")) or returncode == 128 + signal.SIGKILL
