"""A live stack for integration, fault and browser tests: a private redis-server, Celery workers, gunicorn.

Everything runs as real processes against the pytest-django PostgreSQL test database (tests that use these
fixtures need ``transactional_db`` so their rows are committed and visible to the other processes). The
redis-server is a separate instance on a free loopback port, never the machine's shared Redis, so a test
may stop and restart it. Plain helpers (``LiveStack``, ``RedisServer``, ``wait_until``) are importable by the
benches too.

Conftests register the fixtures with ``from tests.fixtures_live import *  # noqa: F401,F403``.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
QUEUES = "validate,evaluate,finalize"

__all__ = ["live_stack", "LiveStack", "RedisServer", "celery_pointed_at", "wait_until", "free_port"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; fail the test with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    """Stop a process we started (and its process group: Celery's pool children, gunicorn's workers)."""
    if process is None or process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(5)


class RedisServer:
    """A throw-away redis-server (no persistence) on a fixed loopback port, restartable on the same port."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port, self.workdir = port, workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir), "--logfile", str(self.workdir / "redis.log")],
            start_new_session=True,
        )
        wait_until(self.ping, 10, 0.05, f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        _stop(self.process, signal.SIGKILL)  # as if it crashed; nothing is persisted
        self.process = None


def _secret_key() -> str:
    """This process's key, so sessions made here are valid in the live processes (which refuse the public one)."""
    from django.conf import settings

    if settings.SECRET_KEY != settings.INSECURE_DEV_SECRET_KEY:
        return settings.SECRET_KEY
    return "live-stack-secret-key-not-for-production"


@dataclass
class LiveStack:
    """Settings shared by every process of one test, and the processes themselves."""

    database_url: str
    redis: RedisServer
    private_root: Path
    model_dir: Path
    logdir: Path
    env_overrides: dict[str, str] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)
    extra: list[subprocess.Popen] = field(default_factory=list)

    @property
    def broker_url(self) -> str:
        return f"{self.redis.url}/0"

    @property
    def result_url(self) -> str:
        return f"{self.redis.url}/1"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "EVAL_", "PYTEST_"))}
        env.update(
            DATABASE_URL=self.database_url,
            CELERY_BROKER_URL=self.broker_url,
            CELERY_RESULT_BACKEND=self.result_url,
            PRIVATE_STORAGE_ROOT=str(self.private_root),
            SMPLX_MODEL_DIR=str(self.model_dir),
            EVAL_DEVICE="cpu",
            EVAL_TORCH_THREADS="1",
            EVAL_SHARDS_PER_PROCESS="0",  # tests choose their shards with EVAL_SHARD_SIZE
            DJANGO_SETTINGS_MODULE="leaderboard.settings",
            DJANGO_SECRET_KEY=_secret_key(),
            PYTHONPATH=str(REPO_ROOT),
            PYTHONUNBUFFERED="1",
        )
        env.update(self.env_overrides)
        env.update(overrides)
        return env

    def start_worker(self, name: str, concurrency: int = 1, beat: bool = False, queues: str = QUEUES,
                     **env: str) -> subprocess.Popen:
        """A ``celery worker`` (on all queues by default); returns once it is consuming."""
        log = self.logdir / f"worker-{name}.log"
        args = [str(VENV_BIN / "celery"), "-A", "workers", "worker", "-Q", queues, "-n", f"{name}@%h",
                "--concurrency", str(concurrency), "--loglevel", "INFO", "--logfile", str(log),
                "--without-gossip", "--without-mingle"]
        if beat:
            args += ["-B", "--schedule", str(self.logdir / f"beat-{name}")]
        process = subprocess.Popen(args, cwd=REPO_ROOT, env=self.env(**env), start_new_session=True,
                                   stdout=subprocess.DEVNULL, stderr=open(self.logdir / f"worker-{name}.err", "wb"))
        self.workers[name] = process

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"worker {name} exited with {process.returncode}; see {log}")
            return log.exists() and " ready." in log.read_text(errors="replace")

        wait_until(ready, 60, 0.2, f"worker {name} to be ready")
        return process

    def start_sweeper(self) -> subprocess.Popen:
        """Beat plus a worker on the finalize queue only, so sweeps are not starved by busy evaluation workers."""
        return self.start_worker("sweeper", beat=True, queues="finalize")

    def kill_worker(self, name: str) -> None:
        """SIGKILL the worker and its pool children at once, as a machine crash would."""
        _stop(self.workers.pop(name), signal.SIGKILL)

    def start_gunicorn(self, workers: int = 2, args: tuple[str, ...] = (), **env: str) -> str:
        """gunicorn serving the site (leaderboard/gunicorn_conf.py, then ``args``) on a free loopback port.

        Returns its base URL once it answers.
        """
        # whitenoise serves the CSS from STATIC_ROOT (gitignored staticfiles/), as in scripts/serve
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=REPO_ROOT,
                       env=self.env(**env), check=True)
        port = free_port()
        process = subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", "python:leaderboard.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), "--timeout", "120", "--error-logfile", str(self.logdir / "gunicorn.log"),
             *args, "leaderboard.wsgi:application"],
            cwd=REPO_ROOT, env=self.env(**env), start_new_session=True,
        )
        self.extra.append(process)

        def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {process.returncode}; see {self.logdir / 'gunicorn.log'}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/api/v1/benchmarks/")
                return conn.getresponse().status == 200
            except OSError:
                return False

        wait_until(answers, 60, 0.2, "gunicorn to answer")
        return f"http://127.0.0.1:{port}"

    def stop_all(self) -> None:
        for process in [*self.workers.values(), *self.extra]:
            _stop(process)
        self.workers.clear()
        self.extra.clear()

    def worker_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(self.logdir.glob("*.log")))


@contextlib.contextmanager
def celery_pointed_at(broker_url: str, result_url: str) -> Iterator[None]:
    """Make this process's Celery app send to ``broker_url`` (the settings chose it at import time)."""
    from workers.celery_app import app

    keys = ("broker_url", "result_backend", "broker_transport_options", "result_backend_transport_options")
    saved = {k: app.conf.get(k) for k in keys}

    def reset() -> None:
        # Drop references only: kombu keeps pools in a global registry keyed by URL, and a closed one would
        # be handed out again to later tests using the same URL ("Acquire on closed pool").
        app._pool = None
        app.__dict__.get("amqp") and setattr(app.amqp, "_producer_pool", None)
        app._backend_cache = None
        app._local = threading.local()

    reset()
    from workers.celery_app import redis_transport_options

    app.conf.update(broker_url=broker_url, result_backend=result_url,
                    broker_transport_options=redis_transport_options(3600),
                    result_backend_transport_options={"visibility_timeout": 3600})
    try:
        yield
    finally:
        reset()
        app.conf.update(saved)


# Not this test process's own sessions: Playwright runs the test body in another context with its own connection.
LIVE_APPLICATION_NAME = "ehps-live-stack"


def _database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if connection.vendor != "postgresql":
        pytest.skip("live-stack tests need PostgreSQL (set DATABASE_URL, as scripts/test does)")
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    # The live processes connect under their own application_name, so teardown can end exactly their sessions.
    return (f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"
            f"?application_name={LIVE_APPLICATION_NAME}")


@pytest.fixture
def live_stack(transactional_db, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveStack]:
    """A fresh private Redis, this test's committed database, and helpers to start workers and gunicorn.

    This process's Celery app sends to that Redis for the duration of the test. All processes are stopped
    before the database is flushed.
    """
    from django.conf import settings

    logdir = REPO_ROOT / "test-artifacts" / "live" / request.node.name  # kept after the run, for CI artefacts
    shutil.rmtree(logdir, ignore_errors=True)
    logdir.mkdir(parents=True)
    redis_dir = tmp_path / "redis"
    redis_dir.mkdir()
    redis = RedisServer(free_port(), redis_dir)
    redis.start()
    stack = LiveStack(_database_url(), redis, Path(settings.PRIVATE_STORAGE_ROOT), Path(settings.SMPLX_MODEL_DIR), logdir)
    try:
        with celery_pointed_at(stack.broker_url, stack.result_url):
            yield stack
    finally:
        stack.stop_all()
        redis.stop()
        from django.db import connections

        # Terminate any connection a killed worker left behind, or the flush/drop of the test DB would wait on it.
        with connections["default"].cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = %s AND pid <> pg_backend_pid()",
                [LIVE_APPLICATION_NAME],
            )
