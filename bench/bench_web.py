"""Leaderboard pages and API under load, against a static file of the same rows, in one run.

Run by hand (PostgreSQL on 127.0.0.1:5432, redis-server installed):

    .venv/bin/python bench/bench_web.py [--submissions 5000] [--benchmarks 5] [--users 1000] [--requests 600]
                                        [--clients 32] [--gunicorn 3x4 4x8 ...] [--rounds 3]

Creates (and drops afterwards) the database ``ehps_bench_web`` and seeds it with ``--submissions`` finished,
published submissions from ``--users`` users on ``--benchmarks`` synthetic benchmarks (a result on every one);
starts one gunicorn per ``--gunicorn`` WORKERSxTHREADS (default: leaderboard/gunicorn_conf.py's) on free
loopback ports and drives each URL of each server in turn with N concurrent clients (threads, one http.client
connection per request); the requests of a URL are split into ``--rounds`` rounds that alternate with the other
URLs' and servers', so a burst of load from elsewhere on the machine falls on all of them alike. For each URL it prints p50/p99 latency and the
gunicorn workers' CPU time per request (utime + stime from /proc, all worker processes), and the ratios to the
static baseline: the JSON of the API's first page written to STATIC_ROOT and served by whitenoise from the same
gunicorn. Then: the cost of the first request after a change (cache miss), a 304 revalidation, and how long a
newly published submission takes to appear on the overall page.
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


def gunicorn_port(stack: LiveStack, workers: int, threads: int | None = None, **env: str) -> int:
    """Start gunicorn on the stack (``threads`` per worker, else gunicorn_conf's) and return its loopback port."""
    args = ("--threads", str(threads)) if threads else ()
    return int(stack.start_gunicorn(workers=workers, args=args, **env).rsplit(":", 1)[1])


def seed_finished_submissions(count: int, num_benchmarks: int, num_users: int) -> list[str]:
    """``num_benchmarks`` synthetic benchmarks and ``count`` finished, published submissions with a result on each,
    all with the same recorded MPE coverage (one comparable section, as on a real board)."""
    import numpy as np
    from django.contrib.auth.models import User

    from evaluator.metric_names import METRICS
    from leaderboard.benchmarks.testing import make_benchmark
    from leaderboard.submissions.board_cache import bump_version
    from leaderboard.submissions.models import BenchmarkResult, Status, Submission
    from leaderboard.submissions.scores import Coverage, CoverageEntry

    benchmarks = [make_benchmark(f"bench-{i}", num_samples=8, seed=i)[0] for i in range(num_benchmarks)]
    coverage = Coverage.of(CoverageEntry(b.slug, "test", "smplx-generic", "1") for b in benchmarks)
    rng = np.random.default_rng(0)
    users = User.objects.bulk_create(User(username=f"user{i}") for i in range(num_users))
    submissions = Submission.objects.bulk_create(
        Submission(owner=users[i % num_users], method_name=f"Method-{i:04d}", status=Status.FINISHED, is_public=True,
                   paper_url="https://arxiv.org/abs/2309.17448", code_url="https://github.com/example/method",
                   log="model log line\n" * 200, eval_plan={"shards": [{"task_id": "x" * 36}] * 8},
                   mpe=float(rng.uniform(40, 120)), hand_mpe=float(rng.uniform(8, 20)), pa_hand_mpe=float(rng.uniform(1, 5)),
                   score_coverage={"mpe": coverage.to_json()}, mpe_coverage_key=coverage.key)
        for i in range(count)
    )
    links = Submission.benchmarks.through
    links.objects.bulk_create(links(submission_id=s.pk, benchmark_id=b.pk) for s in submissions for b in benchmarks)
    results = []
    for submission in submissions:
        for benchmark in benchmarks:
            metrics = {key: float(rng.uniform(1, 150)) for key in METRICS}
            results.append(BenchmarkResult(submission=submission, benchmark=benchmark, split="test", metrics=metrics,
                                           primary_value=metrics[benchmark.primary_metric], num_samples=8,
                                           protocol="smplx-generic", protocol_version="1"))
    BenchmarkResult.objects.bulk_create(results, batch_size=2000)
    bump_version()
    return [b.slug for b in benchmarks]


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    cpu_s: float = 0.0  # gunicorn workers' CPU time over the run

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies_ms)

    @property
    def p99(self) -> float:
        lat = sorted(self.latencies_ms)
        return lat[min(len(lat) - 1, int(round(0.99 * (len(lat) - 1))))]

    @property
    def cpu_ms_per_request(self) -> float:
        return 1000 * self.cpu_s / self.requests

    def __add__(self, other: LoadResult) -> LoadResult:
        return LoadResult(self.requests + other.requests, self.errors + other.errors, self.seconds + other.seconds,
                          self.latencies_ms + other.latencies_ms, self.cpu_s + other.cpu_s)

    def row(self, label: str, clients: int) -> str:
        return (f"| {label} | {clients} | {self.requests} | {self.requests / self.seconds:.0f} | "
                f"{self.p50:.1f} | {self.p99:.1f} | {self.cpu_ms_per_request:.2f} | {self.errors} |")


def worker_cpu_seconds(master_pid: int) -> float:
    """utime + stime of every child of the gunicorn master (its workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master_pid:  # fields[1] is ppid; utime and stime are fields 12 and 13
            total += int(fields[11]) + int(fields[12])
    return total / ticks


def load(port: int, path: str, clients: int, total: int, headers: dict[str, str] | None = None,
         method: str = "GET", body_for=None, expect: int = 200, master_pid: int | None = None) -> LoadResult:
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
    cpu_before = worker_cpu_seconds(master_pid) if master_pid else 0.0
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu = worker_cpu_seconds(master_pid) - cpu_before if master_pid else 0.0
    return LoadResult(total, errors[0], time.perf_counter() - start, latencies, cpu)


def get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.request("GET", path, headers=headers or {})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), body


def write_static_copy(path: str) -> Path:
    """The API's answer for ``path`` (same rows) as a file under STATIC_ROOT, for whitenoise to serve."""
    from django.conf import settings
    from django.test import Client

    body = Client().get(path, HTTP_ACCEPT="application/json").content
    target = Path(settings.STATIC_ROOT) / "bench" / "leaderboard.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(body)
    return target


def time_change(port: int, slug_of_new: str) -> tuple[float, float]:
    """(ms of the first overall-page request after a change, s until a newly published submission shows)."""
    from leaderboard.submissions.actions import set_published
    from leaderboard.submissions.board_cache import bump_version
    from leaderboard.submissions.models import Submission

    from django.conf import settings

    bump_version()
    time.sleep(settings.LEADERBOARD_VERSION_TTL_S + 0.05)  # until the servers re-read the version: a true miss
    started = time.perf_counter()
    get(port, "/")
    miss_ms = (time.perf_counter() - started) * 1000
    newcomer = Submission.objects.get(method_name=slug_of_new)
    set_published(newcomer, True)
    published = time.perf_counter()
    while slug_of_new.encode() not in get(port, "/")[2]:
        if time.perf_counter() - published > 10:
            raise RuntimeError("the published submission did not appear within 10 s")
        time.sleep(0.01)
    return miss_ms, time.perf_counter() - published


def default_gunicorn() -> str:
    from leaderboard import gunicorn_conf

    return f"{gunicorn_conf.workers}x{gunicorn_conf.threads}"


def parse_gunicorn(value: str) -> tuple[int, int]:
    workers, _, threads = value.partition("x")
    return int(workers), int(threads or 1)


@dataclass
class Server:
    """One running gunicorn configuration."""

    workers: int
    threads: int
    port: int
    master: int

    @property
    def label(self) -> str:
        return f"{self.workers}x{self.threads}"


def start_server(stack: LiveStack, workers: int, threads: int, urls: dict[str, str]) -> Server:
    port = gunicorn_port(stack, workers, threads, API_THROTTLE_ANON="100000000/min")
    server = Server(workers, threads, port, stack.extra[-1].pid)
    for path in urls.values():  # warm every gunicorn worker (imports, templates, the cache)
        load(port, path, workers * 4, workers * 16)
    return server


def measure(servers: list[Server], urls: dict[str, str], clients: int, requests: int,
            rounds: int) -> dict[tuple[str, str], LoadResult]:
    """``requests`` per URL and server at ``clients``, in ``rounds`` rounds that alternate between the servers and
    the URLs; (server label, URL label) -> result. Only one server is under load at a time."""
    results: dict[tuple[str, str], LoadResult] = {}
    for index in range(rounds):
        share = requests // rounds + (index < requests % rounds)
        for server in servers:
            for label, path in urls.items():
                result = load(server.port, path, clients, share, master_pid=server.master)
                key = server.label, label
                results[key] = results[key] + result if key in results else result
    return results


def report(server: Server, urls: dict[str, str], results: dict[tuple[str, str], LoadResult], clients: int,
           args) -> None:
    print(f"\ngunicorn {server.workers} gthread workers x {server.threads} threads, {os.cpu_count()} CPUs, load "
          f"average {args.load_before:.1f} before the bench started ({os.getloadavg()[0]:.1f} now, the bench's own "
          f"processes included), {args.requests} requests per row in {args.rounds} rounds\n")
    print("| URL | clients | requests | req/s | p50 ms | p99 ms | CPU ms/request | errors |\n|---|---|---|---|---|---|---|---|")
    for label in urls:
        print(results[server.label, label].row(label, clients))
    baseline = results[server.label, next(iter(urls))]
    print("\n| URL | clients | p99 < 50 ms | CPU / static CPU |\n|---|---|---|---|")
    for label in list(urls)[1:]:
        result = results[server.label, label]
        ratio = result.cpu_s / max(baseline.cpu_s, 1e-9)
        print(f"| {label} | {clients} | {'yes' if result.p99 < 50 else 'NO'} ({result.p99:.1f}) | {ratio:.2f}x |")


def revalidates(server: Server) -> int:
    """The status of a request for the overall page with the ETag it was just served with (304 expected)."""
    _, headers, _ = get(server.port, "/")
    return get(server.port, "/", {"If-None-Match": headers["ETag"]})[0]


def check_freshness(server: Server, newcomer: str) -> None:
    miss_ms, fresh_s = time_change(server.port, newcomer)
    print(f"{server.label}: first overall page after a change (cache miss): {miss_ms:.0f} ms; a newly published "
          f"submission appeared after {fresh_s * 1000:.0f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--benchmarks", type=int, default=5)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--gunicorn", nargs="+", default=None, metavar="WORKERSxTHREADS",
                        help="gunicorn configurations, all started at once and loaded in turns (default: gunicorn_conf's)")
    parser.add_argument("--requests", type=int, default=600, help="requests per URL and concurrency level")
    parser.add_argument("--rounds", type=int, default=3, help="rounds the requests of each URL are split into")
    parser.add_argument("--clients", type=int, nargs="+", default=[32])
    args = parser.parse_args()
    args.load_before = os.getloadavg()[0]  # other processes' load; this bench's clients and servers add to it later

    with bench_stack("ehps_bench_web") as stack:  # its redis is unused by the pages; the settings want a broker URL
        started = time.perf_counter()
        slugs = seed_finished_submissions(args.submissions, args.benchmarks, args.users)
        from django.contrib.auth.models import User

        from leaderboard.submissions.actions import set_published
        from leaderboard.submissions.models import Status, Submission

        peer = Submission.objects.first()  # same coverage as the others, so it ranks first in their section
        newcomer = Submission.objects.create(owner=User.objects.first(), method_name="Newcomer-zz", status=Status.FINISHED,
                                             mpe=1.0, score_coverage=peer.score_coverage, mpe_coverage_key=peer.mpe_coverage_key)
        print(f"seeded {args.submissions} finished submissions of {args.users} users on {len(slugs)} benchmarks "
              f"in {time.perf_counter() - started:.1f} s")
        static = write_static_copy("/api/v1/leaderboard/")
        urls = {
            "static JSON (whitenoise, same rows)": "/static/bench/leaderboard.json",
            "/ (overall page)": "/",
            f"/benchmarks/{slugs[0]}/ (benchmark page)": f"/benchmarks/{slugs[0]}/",
            "/api/v1/leaderboard/ (JSON, 50 rows)": "/api/v1/leaderboard/",
            f"/api/v1/leaderboard/{slugs[0]}/ (JSON)": f"/api/v1/leaderboard/{slugs[0]}/",
        }
        try:
            servers = [start_server(stack, *parse_gunicorn(config), urls) for config in args.gunicorn or [default_gunicorn()]]
            for clients in args.clients:
                results = measure(servers, urls, clients, args.requests, args.rounds)
                for server in servers:
                    report(server, urls, results, clients, args)
            print("\nrevalidation with If-None-Match: " + ", ".join(f"{server.label} {revalidates(server)}" for server in servers))
            for server in servers:  # each changes the boards: after every revalidation check
                check_freshness(server, "Newcomer-zz")
                set_published(Submission.objects.get(pk=newcomer.pk), False)  # off the board for the next one's check
        finally:
            static.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
