"""Real Celery workers (subprocesses) on Redis against the pytest-django PostgreSQL test database.

Redis databases 5 (broker) and 6 (results) are flushed when a module's workers start. Workers get the
test database, the session's private storage and synthetic SMPL-X model through environment variables.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("EHPS_TEST_REDIS_URL", "redis://127.0.0.1:6379")
BROKER_URL, RESULT_URL = f"{REDIS_URL}/5", f"{REDIS_URL}/6"
WORKER_READY_TIMEOUT_S = 90


def _redis_available() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(BROKER_URL, socket_timeout=1).ping())
    except redis.exceptions.RedisError:
        return False


def _database_url() -> str:
    from django.conf import settings

    db = settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _use_broker(broker: str | None, backend: str | None) -> None:
    """Point this (test) process's Celery app at a broker/backend, dropping cached connections."""
    from workers.celery_app import app

    app.conf.update(broker_url=broker, result_backend=backend, task_always_eager=False,
                    broker_transport_options={"visibility_timeout": 3600})
    app._pool = None
    app.amqp._producer_pool = None
    app._backend_cache = None
    app._local.__dict__.pop("backend", None)


@pytest.fixture(scope="module")
def redis_celery() -> Iterator[None]:
    """Skip unless PostgreSQL and Redis are there; then route this process's tasks to fresh Redis databases."""
    import redis
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("integration tests need DATABASE_URL=postgres://...")
    if not _redis_available():
        pytest.skip(f"integration tests need Redis at {REDIS_URL}")
    for url in (BROKER_URL, RESULT_URL):
        redis.Redis.from_url(url).flushdb()
    from workers.celery_app import app

    saved = (app.conf.broker_url, app.conf.result_backend, app.conf.broker_transport_options)
    _use_broker(BROKER_URL, RESULT_URL)
    yield
    _use_broker(saved[0], saved[1])
    app.conf.broker_transport_options = saved[2]


class Worker:
    """One ``celery -A workers worker`` process group, with its log in a file."""

    def __init__(self, name: str, env: dict[str, str], log_path: Path, concurrency: int) -> None:
        self.name, self.log_path = name, log_path
        cmd = [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "validate,evaluate,finalize",
               "--concurrency", str(concurrency), "--hostname", f"{name}@%h", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle"]
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self) -> None:
        deadline = time.monotonic() + WORKER_READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if " ready." in self.text():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"worker {self.name} did not start:\n{self.text()[-4000:]}")

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and pool children), as a machine crash would."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


@pytest.fixture(scope="module")
def start_worker(django_db_setup, django_db_blocker, redis_celery, smplx_model_dir, tmp_path_factory
                 ) -> Iterator[Callable[..., Worker]]:
    """Start real workers on the test database; all are stopped when the module ends."""
    from django.conf import settings

    started: list[Worker] = []
    log_dir = tmp_path_factory.mktemp("worker-logs")

    def start(name: str, concurrency: int = 1, ready: bool = True, **eval_settings: object) -> Worker:
        """``ready=False``: return at once (start several side by side, then ``wait_ready`` each)."""
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": BROKER_URL,
            "CELERY_RESULT_BACKEND": RESULT_URL,
            "PRIVATE_STORAGE_ROOT": str(settings.PRIVATE_STORAGE_ROOT),
            "SMPLX_MODEL_DIR": str(smplx_model_dir),
            "EVAL_TORCH_THREADS": "1",
            "EVAL_SHARDS_PER_PROCESS": "0",  # these tests choose their shards with EVAL_SHARD_SIZE
            **{key: str(value) for key, value in eval_settings.items()},
        }
        worker = Worker(name, env, log_dir / f"{name}.log", concurrency)
        started.append(worker)
        if ready:
            worker.wait_ready()
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate: Callable[[], object], timeout: float, what: str, interval: float = 0.1):
    """Poll ``predicate`` until it returns something truthy; fail (never hang) after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


@pytest.fixture
def wait() -> Callable[..., object]:
    return wait_for
