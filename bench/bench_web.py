"""Load on the public pages: gunicorn over PostgreSQL seeded with demo benchmarks and finished submissions.

Run by hand (PostgreSQL on 127.0.0.1:5432, redis-server installed):

    .venv/bin/python bench/bench_web.py [--submissions 200] [--gunicorn-workers 4] [--requests 400] [--clients 8 32]

Creates (and drops afterwards) the database ``ehps_bench_web``, seeds it, starts gunicorn on a free loopback
port and drives each URL with N concurrent clients (threads, one http.client connection per request, a fixed
number of requests). Prints requests/s, p50/p99 latency and the error count for each URL and concurrency.
"""
from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.fixtures_live import LiveStack, RedisServer, free_port  # noqa: E402


def fresh_database(name: str, admin_url: str = "postgres://postgres@127.0.0.1:5432/postgres") -> str:
    """Drop and create ``name``; returns its URL. Point this process's Django at it and migrate."""
    import psycopg

    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    os.environ["DATABASE_URL"] = url
    return url


def drop_database(name: str, admin_url: str = "postgres://postgres@127.0.0.1:5432/postgres") -> None:
    import psycopg

    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url.replace("postgres://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def setup_django(private_root: Path, model_dir: Path) -> None:
    os.environ.update(PRIVATE_STORAGE_ROOT=str(private_root), SMPLX_MODEL_DIR=str(model_dir),
                      DJANGO_SETTINGS_MODULE="leaderboard.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


@contextmanager
def bench_stack(db_name: str, env_overrides: dict[str, str] | None = None) -> Iterator[LiveStack]:
    """A fresh, migrated database ``db_name`` for this process's Django, a private redis-server and a
    `LiveStack` (no processes started yet) on them; all stopped and the database dropped afterwards."""
    work = Path(tempfile.mkdtemp(prefix=f"{db_name}-"))
    url = fresh_database(db_name)
    model_dir = REPO_ROOT / "var" / "smplx_synthetic"
    setup_django(work / "private", model_dir)
    redis = RedisServer(free_port(), work)
    redis.start()
    stack = LiveStack(url, redis, work / "private", model_dir, work, env_overrides=dict(env_overrides or {}))
    try:
        yield stack
    finally:
        stack.stop_all()
        redis.stop()
        drop_database(db_name)


def gunicorn_port(stack: LiveStack, workers: int, **env: str) -> int:
    """Start gunicorn on the stack and return its loopback port."""
    return int(stack.start_gunicorn(workers=workers, **env).rsplit(":", 1)[1])


def seed_finished_submissions(count: int) -> list[str]:
    """Demo benchmarks plus ``count`` published, finished submissions with a result on every benchmark split."""
    import numpy as np
    from django.contrib.auth.models import User

    from evaluator.metric_names import METRICS
    from leaderboard.benchmarks.demo import create_demo_benchmarks
    from leaderboard.submissions.models import BenchmarkResult, Status, Submission

    benchmarks = create_demo_benchmarks(Path(tempfile.mkdtemp(prefix="bench-demo-preds-")))
    rng = np.random.default_rng(0)
    users = [User.objects.create_user(f"user{i}", password="pw-bench-123") for i in range(20)]
    submissions = Submission.objects.bulk_create(
        Submission(owner=users[i % len(users)], method_name=f"Method-{i:03d}", status=Status.FINISHED, is_public=True,
                   mpe=float(rng.uniform(40, 120)), hand_mpe=float(rng.uniform(8, 20)), pa_hand_mpe=float(rng.uniform(1, 5)))
        for i in range(count)
    )
    results = []
    for submission in submissions:
        submission.benchmarks.set(benchmarks)
        for benchmark in benchmarks:
            for split in benchmark.splits.all():
                metrics = {key: float(rng.uniform(1, 150)) for key in METRICS}
                results.append(BenchmarkResult(submission=submission, benchmark=benchmark, split=split.name, metrics=metrics,
                                               primary_value=metrics[benchmark.primary_metric], num_samples=split.num_samples))
    BenchmarkResult.objects.bulk_create(results)
    return [b.slug for b in benchmarks]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    def row(self, label: str, clients: int) -> str:
        lat = sorted(self.latencies_ms)
        p99 = lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]
        return (f"| {label} | {clients} | {self.requests} | {self.requests / self.seconds:.1f} | "
                f"{statistics.median(lat):.0f} | {p99:.0f} | {self.errors} |")


def load(port: int, path: str, clients: int, total: int, headers: dict[str, str] | None = None,
         method: str = "GET", body_for=None, expect: int = 200) -> LoadResult:
    """``total`` requests spread over ``clients`` threads; a non-``expect`` status counts as an error."""
    lock, latencies, errors, issued = threading.Lock(), [], [0], [0]

    def client() -> None:
        while True:
            with lock:
                if issued[0] >= total:
                    return
                issued[0] += 1
                n = issued[0]
            body, extra = body_for(n) if body_for else (None, {})
            start = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                conn.request(method, path, body=body, headers={**(headers or {}), **extra})
                response = conn.getresponse()
                response.read()
                ok = response.status == expect
                conn.close()
            except OSError:
                ok = False
            elapsed = (time.perf_counter() - start) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return LoadResult(total, errors[0], time.perf_counter() - start, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--gunicorn-workers", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400, help="requests per URL and concurrency level")
    parser.add_argument("--clients", type=int, nargs="+", default=[8, 32])
    args = parser.parse_args()

    with bench_stack("ehps_bench_web") as stack:  # its redis is unused by the pages; the settings want a broker URL
        started = time.perf_counter()
        slugs = seed_finished_submissions(args.submissions)
        print(f"seeded {args.submissions} finished submissions on {len(slugs)} benchmarks in {time.perf_counter() - started:.1f} s")
        port = gunicorn_port(stack, args.gunicorn_workers, API_THROTTLE_ANON="1000000/min")
        urls = {"/ (overall leaderboard page)": "/", f"/benchmarks/{slugs[0]}/ (benchmark page)": f"/benchmarks/{slugs[0]}/",
                "/api/v1/leaderboard/ (JSON)": "/api/v1/leaderboard/"}
        for path in urls.values():  # warm every gunicorn worker (imports, template compilation)
            load(port, path, args.gunicorn_workers * 2, args.gunicorn_workers * 4)
        print(f"\ngunicorn {args.gunicorn_workers} sync workers, {os.cpu_count()} CPUs, {args.requests} requests per row\n")
        print("| URL | clients | requests | req/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|---|")
        for label, path in urls.items():
            for clients in args.clients:
                print(load(port, path, clients, args.requests).row(label, clients), flush=True)


if __name__ == "__main__":
    main()
