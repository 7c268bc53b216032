"""Wall time of a sharded evaluation on real Celery workers (Redis broker, PostgreSQL), 1 vs 2 pool processes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ehps .venv/bin/python bench/bench_workers.py [--samples 20000]

Creates a scratch database ``<name>_bench`` (dropped at the end), a synthetic SMPL-X model and benchmark in a
temporary folder, uses Redis databases 7/8, and prints: the evaluator called directly in this process, then
start_evaluation → finished with one worker at ``--concurrency 1`` and ``--concurrency 2`` (torch threads are
split between pool processes by workers.torch_setup), and the scaling ratio.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse, urlunparse

REPO = Path(__file__).resolve().parents[1]
REDIS = os.environ.get("EHPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20000)
    parser.add_argument("--shard-size", type=int, default=2048)
    parser.add_argument("--chunk-size", type=int, default=256)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()

    base_url = os.environ.get("DATABASE_URL", "")
    if not base_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (the bench creates and drops <name>_bench next to it).")
    parts = urlparse(base_url)
    bench_db = f"{parts.path.lstrip('/') or 'ehps'}_bench"
    admin_url = urlunparse(parts._replace(path="/postgres"))
    db_url = urlunparse(parts._replace(path=f"/{bench_db}"))
    tmp = Path(tempfile.mkdtemp(prefix="ehps-bench-"))
    env = {
        **os.environ, "DATABASE_URL": db_url, "PRIVATE_STORAGE_ROOT": str(tmp / "private"),
        "SMPLX_MODEL_DIR": str(tmp / "smplx"), "CELERY_BROKER_URL": f"{REDIS}/7", "CELERY_RESULT_BACKEND": f"{REDIS}/8",
        "EVAL_SHARD_SIZE": str(args.shard_size), "EVAL_CHUNK_SIZE": str(args.chunk_size),
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
    sys.path.insert(0, str(REPO))

    import psycopg
    import redis

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}"')
        conn.execute(f'CREATE DATABASE "{bench_db}"')
    for db in (7, 8):
        redis.Redis.from_url(f"{REDIS}/{db}").flushdb()
    run = lambda *cmd: subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)  # noqa: E731
    run(sys.executable, "-m", "evaluator", "make-synthetic-model", "--out", env["SMPLX_MODEL_DIR"], "--seed", "0")
    run(sys.executable, "manage.py", "migrate", "--noinput")

    import django

    django.setup()
    import torch
    from django.contrib.auth import get_user_model

    from leaderboard.submissions.models import Status, Submission
    from workers.pipeline import start_evaluation
    from workers.synthetic import create_benchmark, create_submission, direct_means

    user = get_user_model().objects.create_user("bench")
    benchmark = create_benchmark("bench20k", args.samples)
    cores = os.cpu_count()
    print(f"scratch folder (worker logs): {tmp}")
    print(f"benchmark: {args.samples} samples, shard {args.shard_size}, chunk {args.chunk_size}; {cores} cores, "
          f"torch {torch.__version__}, device cpu")

    reference = create_submission(user, [benchmark], method_name="direct")
    started = time.perf_counter()
    direct = direct_means(reference, benchmark, chunk_size=args.chunk_size)
    direct_s = time.perf_counter() - started
    print(f"evaluator in-process ({torch.get_num_threads()} threads): {direct_s:6.1f} s  "
          f"({args.samples / direct_s:,.0f} samples/s)")

    timings: dict[int, float] = {}
    for concurrency in args.concurrency:
        worker_log = open(tmp / f"worker-c{concurrency}.log", "wb")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "validate,evaluate,finalize",
             "--concurrency", str(concurrency), "--hostname", f"bench{concurrency}@%h", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env=env, start_new_session=True, stdout=worker_log, stderr=subprocess.STDOUT,
        )
        try:
            time.sleep(8)  # pool processes import torch and warm the body model before the clock starts
            submission = create_submission(user, [benchmark], method_name=f"c{concurrency}")
            started = time.perf_counter()
            start_evaluation(submission.pk)
            while (status := Submission.objects.get(pk=submission.pk).status) not in (Status.FINISHED, Status.FAILED):
                time.sleep(0.1)
            timings[concurrency] = elapsed = time.perf_counter() - started
            submission.refresh_from_db()
            assert status == Status.FINISHED, submission.error_message
            same = {r.split: r.metrics for r in submission.results.all()} == direct
            print(f"workers --concurrency {concurrency}: {elapsed:6.1f} s  ({args.samples / elapsed:,.0f} samples/s, "
                  f"{submission.progress_total} shards, results identical to in-process: {same})")
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(30)
            worker_log.close()
    if 1 in timings and 2 in timings:
        print(f"scaling 1 → 2 pool processes: {timings[1] / timings[2]:.2f}x")

    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}"')


if __name__ == "__main__":
    main()
