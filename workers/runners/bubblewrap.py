"""Model-archive runner: our trusted `torchscript_entry.py` runs the submitted TorchScript inside bubblewrap.

The archive is a ``.zip`` with ``manifest.json`` (``{"format": "torchscript", "model_file": "model.pt",
"batch_size": 16}``) and the TorchScript file. The sandbox has every namespace unshared (no network:
only its own loopback), dies with the worker, runs in a new session as uid/gid 65534 with no
capabilities, and sees only: ``/usr`` (+ the ``/lib``, ``/bin`` links), ``/etc/ld.so.cache``, the worker's
Python installation and virtualenv, the entry script, ``/model`` and ``/input`` read-only, a writable
``/output``, a small ``/tmp`` tmpfs, and ``/dev/nvidia*`` when a GPU run is asked for and present.
``prlimit`` caps heap memory (RLIMIT_DATA, which CUDA's large address-space reservations do not hit,
unlike RLIMIT_AS), file size, processes and CPU seconds; the wall clock is enforced by `supervise`.

Why the launch differs for root: bwrap launched by root maps the sandbox's uid 65534 to host root, so
the payload could read root-only files that are visible in the sandbox. We therefore never run bwrap
as root. A root worker first bind-mounts each needed host path into a world-traversable staging
folder inside a private mount namespace (``unshare --mount``; this is how the Python under a 0700
``/root/.pyenv`` becomes reachable), then drops to uid 65534 with ``setpriv`` (no groups, empty
capability sets) and starts bwrap unprivileged from the staged paths. A non-root worker starts bwrap
directly; the payload then has that user's rights on the (few, read-only) bound paths.

The entry script reports its diagnosis on a pipe of its own (``--status-fd``), never on stdout/stderr
(which the model writes to as well): a status code and, for some codes, one of the known parameter
names; we turn that into the owner's message from a fixed table, so neither a line the model prints nor
its own exception text can become the message a participant reads.

Configuration: ``MODEL_RUNNER_PYTHON`` (the interpreter inside the sandbox; default: the worker's
own, which must have torch, numpy and Pillow), ``MODEL_RUNNER_STAGE_DIR`` (default ``/tmp``),
``MODEL_RUNNER_MAX_MODEL_BYTES`` (largest TorchScript file accepted, default 4 GiB).
"""
from __future__ import annotations

import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from evaluator.chunk_threads import usable_cpus
from workers.runners import rundirs
from workers.runners.base import (
    MANIFEST_NAME,
    PREDICTIONS_NAME,
    SANDBOX_ENV,
    ModelRunError,
    ModelRunner,
    RunHooks,
    RunLimits,
    RunResult,
    finish_run,
    fresh_output_dir,
    make_world_readable,
    stage_input,
)
from workers.runners.supervise import supervise

# Run as a file inside the sandbox, never imported here (it imports torch); its status codes are its
# protocol with us (STATUS_MESSAGES) and are checked against it by the tests.
ENTRY_SCRIPT = Path(__file__).resolve().with_name("torchscript_entry.py")
MEMORY_ERROR = "memory"
KNOWN_OUTPUTS = ("global_orient", "body_pose", "left_hand_pose", "right_hand_pose", "jaw_pose", "betas",
                 "expression", "transl", "leye_pose", "reye_pose", "vertices")
# status code -> the owner's message; "{key}" is filled only with one of KNOWN_OUTPUTS
STATUS_MESSAGES = {
    "bad_input": "the benchmark's input could not be read (a server problem; please tell the organisers)",
    "load_failed": "the TorchScript model could not be loaded (torch.jit.load failed)",
    "output_type": "the model must return a dict of tensors or a tuple of the 8 SMPL-X parameter tensors",
    "output_count": "the model returned a tuple of the wrong length; expected 8 tensors in the order "
                    + ", ".join(KNOWN_OUTPUTS[:8]),
    "unknown_outputs": "the model returned outputs with unknown names; known: " + ", ".join(KNOWN_OUTPUTS),
    "not_a_tensor": "the model returned an output that is not a tensor",
    "bad_shape": "output '{key}' has the wrong number of values for the batch",
    "missing_outputs": "the model returned neither all of " + ", ".join(KNOWN_OUTPUTS[:8]) + " nor vertices",
    "ragged_outputs": "the model returned a different number of outputs for different parameters",
    "model_error": "the model raised an error while running",
}
MAX_STATUS_BYTES = 4096
SANDBOX_UID = 65534
TMPFS_BYTES = 256 * 1024**2
MAX_BATCH = 256
ROOT_FS_LINKS = ("lib", "lib64", "lib32", "libx32", "bin", "sbin")


@dataclass(frozen=True)
class Bind:
    source: Path
    dest: str
    writable: bool = False
    device: bool = False


@dataclass(frozen=True)
class ArchiveManifest:
    model_file: str
    batch_size: int


def read_archive(artifact: Path, dest: Path, max_model_bytes: int) -> ArchiveManifest:
    """Validate the zip and extract only its model file to ``dest/model.pt`` (no paths from the zip are used)."""
    try:
        with zipfile.ZipFile(artifact) as zf:
            try:
                manifest = json.loads(zf.read(MANIFEST_NAME))
            except KeyError:
                raise ModelRunError(f"the model archive has no {MANIFEST_NAME} at its top level") from None
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ModelRunError(f"{MANIFEST_NAME} in the model archive is not valid JSON ({exc})") from None
            parsed = _parse_manifest(manifest)
            try:
                info = zf.getinfo(parsed.model_file)
            except KeyError:
                raise ModelRunError(f"the model archive has no {parsed.model_file!r} (named by model_file in "
                                    f"{MANIFEST_NAME})") from None
            if info.file_size > max_model_bytes:
                raise ModelRunError(f"{parsed.model_file} is {info.file_size} bytes; the limit is {max_model_bytes}")
            dest.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest / "model.pt", "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile as exc:
        raise ModelRunError(f"the model archive is not a valid zip file ({exc})") from None
    make_world_readable(dest)
    return parsed


def _parse_manifest(manifest: object) -> ArchiveManifest:
    if not isinstance(manifest, dict):
        raise ModelRunError(f"{MANIFEST_NAME} must be a JSON object")
    if manifest.get("format", "torchscript") != "torchscript":
        raise ModelRunError(f"{MANIFEST_NAME}: format must be \"torchscript\", got {manifest.get('format')!r}")
    model_file = manifest.get("model_file", "model.pt")
    batch_size = manifest.get("batch_size", 16)
    if not isinstance(model_file, str) or not model_file:
        raise ModelRunError(f"{MANIFEST_NAME}: model_file must be a file name inside the archive")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH:
        raise ModelRunError(f"{MANIFEST_NAME}: batch_size must be an integer in 1..{MAX_BATCH}, got {batch_size!r}")
    return ArchiveManifest(model_file=model_file, batch_size=batch_size)


def python_binds(python: Path) -> list[Bind]:
    """The interpreter's installation and, for a virtualenv, the environment itself (both read-only)."""
    out = subprocess.run([str(python), "-c", "import sys; print(sys.prefix); print(sys.base_prefix)"],
                         capture_output=True, text=True, check=True, env=SANDBOX_ENV)
    prefixes = {Path(p) for p in out.stdout.split()}
    return [Bind(p, str(p)) for p in sorted(prefixes) if not str(p).startswith("/usr")]


def gpu_binds() -> list[Bind]:
    return [Bind(p, str(p), writable=True, device=True) for p in sorted(Path("/dev").glob("nvidia*"))]


class BubblewrapRunner(ModelRunner):
    kind = "archive"

    def __init__(self, python: Path | None = None, stage_root: Path | None = None,
                 max_model_bytes: int | None = None) -> None:
        self.python = Path(python or os.environ.get("MODEL_RUNNER_PYTHON") or sys.executable)
        self.stage_root = Path(stage_root or os.environ.get("MODEL_RUNNER_STAGE_DIR") or tempfile.gettempdir())
        self.max_model_bytes = max_model_bytes or int(os.environ.get("MODEL_RUNNER_MAX_MODEL_BYTES", 4 * 1024**3))
        self.as_root = os.geteuid() == 0

    @property
    def stage_base(self) -> Path:
        return self.stage_root / "ehps-bwrap"

    def reap_orphans(self) -> list[rundirs.RunOwner | None]:
        """Staging folders of runs whose worker process died (the sandbox itself died with it)."""
        return rundirs.reap(self.stage_base)

    def available(self) -> tuple[bool, str]:
        tools = ["bwrap", "prlimit"] + (["unshare", "setpriv", "mount"] if self.as_root else [])
        missing = [t for t in tools if shutil.which(t) is None]
        if missing:
            return False, f"not installed: {', '.join(missing)}"
        probe = subprocess.run(["bwrap", "--unshare-all", "--ro-bind", "/usr", "/usr", *self._root_links(),
                                "/usr/bin/true"], capture_output=True, text=True, env=SANDBOX_ENV)
        if probe.returncode != 0:
            return False, f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()[-500:]}"
        return True, "bubblewrap is ready"

    @staticmethod
    def _root_links() -> list[str]:
        args = []
        for name in ROOT_FS_LINKS:
            path = Path("/") / name
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), f"/{name}"]
            elif path.is_dir():
                args += ["--ro-bind", str(path), f"/{name}"]
        return args

    def binds(self, model_dir: Path, input_dir: Path, output_dir: Path, gpu: bool) -> list[Bind]:
        binds = [Bind(Path("/usr"), "/usr")]
        if Path("/etc/ld.so.cache").exists():
            binds.append(Bind(Path("/etc/ld.so.cache"), "/etc/ld.so.cache"))
        binds += python_binds(self.python)
        binds += [Bind(ENTRY_SCRIPT, "/runner/entry.py"), Bind(model_dir, "/model"),
                  Bind(input_dir, "/input"), Bind(output_dir, "/output", writable=True)]
        if gpu:
            binds += gpu_binds()
        return binds

    def payload(self, limits: RunLimits, batch_size: int, threads: int, status_fd: int) -> list[str]:
        cpu_s = math.ceil(limits.time_s * max(threads, 1)) + 30  # backstop only; the wall clock stops it first
        return [
            "prlimit", f"--data={limits.memory_bytes}", f"--fsize={limits.output_bytes + 1}", f"--nproc={limits.pids}",
            "--core=0", "--nofile=1024", f"--cpu={cpu_s}", "--",
            str(self.python), "-I", "/runner/entry.py", "--model", "/model/model.pt", "--input", "/input",
            "--output", f"/output/{PREDICTIONS_NAME}", "--batch-size", str(batch_size),
            "--device", "cuda" if limits.gpu else "cpu", "--threads", str(threads), "--status-fd", str(status_fd),
        ]

    def bwrap_command(self, binds: list[Bind], sources: dict[Bind, Path], payload: list[str], threads: int) -> list[str]:
        cmd = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session",
               "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", "model", "--clearenv",
               "--dev", "/dev", "--proc", "/proc", "--size", str(TMPFS_BYTES), "--tmpfs", "/tmp"]
        for key, value in {**SANDBOX_ENV, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": str(threads)}.items():
            cmd += ["--setenv", key, value]
        cmd += self._root_links()
        for bind in binds:
            flag = "--dev-bind" if bind.device else "--bind" if bind.writable else "--ro-bind"
            cmd += [flag, str(sources[bind]), bind.dest]
        return [*cmd, "--chdir", "/output", *payload]

    def launch_command(self, binds: list[Bind], payload: list[str], stage: Path, threads: int) -> list[str]:
        if not self.as_root:
            return self.bwrap_command(binds, {b: b.source for b in binds}, payload, threads)
        # Root: stage each path in a private mount namespace, then drop to 65534 before bwrap starts.
        sources, mounts = {}, []
        for i, bind in enumerate(binds):
            if bind.device or bind.source == Path("/usr"):  # world-readable already
                sources[bind] = bind.source
                continue
            target = stage / str(i)
            target.mkdir() if bind.source.is_dir() else target.touch()
            sources[bind] = target
            mounts.append(f"mount --bind {shlex.quote(str(bind.source))} {shlex.quote(str(target))}")
        drop = ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}", "--clear-groups",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        script = " && ".join([*mounts, "exec " + shlex.join(drop + self.bwrap_command(binds, sources, payload, threads))])
        return ["unshare", "--mount", "--propagation", "private", "--", "/bin/sh", "-c", script]

    def run(self, artifact: Path, input_dir: Path, work_dir: Path, limits: RunLimits,
            hooks: RunHooks | None = None) -> RunResult:
        hooks = hooks or RunHooks()
        input_dir, work_dir = input_dir.resolve(), work_dir.resolve()
        staged_input = stage_input(input_dir, work_dir)
        manifest = read_archive(artifact, work_dir / "model", self.max_model_bytes)
        output_dir = fresh_output_dir(work_dir)
        binds = self.binds(work_dir / "model", staged_input, output_dir, limits.gpu)
        stage = rundirs.create_run_dir(self.stage_base, hooks.labels, base_mode=0o711)  # 65534 must reach it
        status_read, status_write = os.pipe()
        try:
            os.chmod(stage, 0o755)
            threads = usable_cpus()
            if limits.cpus:
                threads = max(1, min(threads, math.floor(limits.cpus)))
            payload = self.payload(limits, manifest.batch_size, threads, status_write)
            cmd = self.launch_command(binds, payload, stage, threads)
            sup = supervise(cmd, env=SANDBOX_ENV, limits=limits, output_dir=output_dir,
                            should_stop=hooks.should_stop, pass_fds=(status_write,))
            os.close(status_write)
            status_write = -1
            with os.fdopen(status_read, "rb") as status:
                status_read = -1
                reported = status_message(status.read(MAX_STATUS_BYTES))
        finally:
            for fd in (status_read, status_write):
                if fd >= 0:
                    os.close(fd)
            rundirs.remove_run_dir(stage)  # mounts lived in the finished namespace only
        oom = reported == MEMORY_ERROR
        return finish_run(sup, output_dir, limits, oom=oom, error=None if oom else reported)


def status_message(raw: bytes) -> str | None:
    """The owner's message for what the entry script reported; None when it reported nothing (or garbage)."""
    try:
        status = json.loads(raw.decode("ascii").strip().splitlines()[-1])
        code, key = status["code"], status.get("key")
    except (UnicodeDecodeError, IndexError, ValueError, KeyError, TypeError):
        return None
    if code == MEMORY_ERROR:
        return MEMORY_ERROR
    message = STATUS_MESSAGES.get(code) if isinstance(code, str) else None
    if message is None:
        return None
    return message.format(key=key if key in KNOWN_OUTPUTS else "?")
