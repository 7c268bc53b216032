"""Evaluation on real Celery workers (Redis broker, PostgreSQL) vs in-process, on a quiet and on a loaded machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ehps .venv/bin/python bench/bench_workers.py [--samples 2048]

Creates a scratch database ``<name>_bench`` (dropped at the end), a synthetic SMPL-X model and benchmarks in a
temporary folder, uses Redis databases 7/8/9, and prints, side by side in one run:

- samples/s of the evaluator in this process (1 and 2 torch threads) and of start_evaluation -> finished on one
  worker with 1 pool process x 1 thread, 1 x 2 threads and 2 x 1 thread (shards planned for the processes),
  each on the machine as it is ("quiet") and with one extra busy loop beside it ("loaded");
- upload -> finished latency of a small submission through the API, split per stage;
- the sweeper's broker queue scan per queued message.

Ratios are what to compare: on a shared machine the absolute figures move with everyone else's load.
"""
from __future__ import annotations

import argparse
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REDIS = os.environ.get("EHPS_BENCH_REDIS_URL", "redis://127.0.0.1:6379")
WORKER_SETUPS = ((1, 1), (1, 2), (2, 1))  # (pool processes, torch threads each)


@contextmanager
def busy_loop(enabled: bool):
    """One CPU-bound process beside the measurement (the issue's reproduction of a contended host)."""
    if not enabled:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    try:
        yield
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def worker(env: dict[str, str], log: Path, processes: int, threads: int):
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "validate,evaluate,finalize",
             "--concurrency", str(processes), "--hostname", f"bench{processes}x{threads}@%h", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env={**env, "EVAL_TORCH_THREADS": str(threads)}, start_new_session=True, stdout=out,
            stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while b"ready." not in log.read_bytes() and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(3)  # pool processes warm the body model after "ready"
            yield
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(60)


def wait_final(submission_id: int, poll_s: float = 0.02) -> dict[str, float]:
    """Poll until final; returns the time each status was first seen (perf_counter)."""
    from leaderboard.submissions.models import Status, Submission

    seen: dict[str, float] = {}
    while True:
        status = Submission.objects.filter(pk=submission_id).values_list("status", flat=True).get()
        seen.setdefault(status, time.perf_counter())
        if status in (Status.FINISHED, Status.FAILED, Status.CANCELLED):
            return seen
        time.sleep(poll_s)


def sweeper_scan_cost(messages: int) -> tuple[float, float]:
    """Seconds per queued message of workers.broker_queue.waiting_task_ids over a real Redis list, and of
    the previous scan (JSON-decoding every message) over the same list.

    Uses a queue of its own (Redis is shared) and deletes only that list afterwards."""
    import uuid

    import redis
    from celery import Celery

    from workers import broker_queue

    url, queue = f"{REDIS}/9", f"bench-scan-{uuid.uuid4().hex[:8]}"
    app = Celery("bench-probe", broker=url, set_as_current=False)
    with app.producer_or_acquire() as producer:
        for _ in range(messages):
            app.send_task("workers.tasks.evaluate_shard", args=(1, 1, 0, 0, 64), queue=queue, producer=producer)
    client = redis.Redis.from_url(url)
    try:
        start = time.perf_counter()
        ids = broker_queue.waiting_task_ids(app, queues=(queue,))
        elapsed = time.perf_counter() - start
        assert ids is not None and len(ids) == messages, (len(ids or ()), messages)
        start = time.perf_counter()
        old = set()  # the previous scan: 1,000-message LRANGE pages, every message JSON-decoded
        for first in range(0, messages, 1000):
            old.update(filter(None, map(broker_queue._message_task_id, client.lrange(queue, first, first + 999))))
        old_elapsed = time.perf_counter() - start
        assert old == ids, (len(old), len(ids), sorted(old ^ ids)[:3])
    finally:
        client.delete(queue, *client.scan_iter(match=f"{queue}\x06\x16*"))
        app.close()
    return elapsed / messages, old_elapsed / messages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--small", type=int, default=64, help="samples of the latency benchmark")
    parser.add_argument("--queue-messages", type=int, default=20_000)
    parser.add_argument("--no-loaded", action="store_true", help="skip the runs with an extra busy loop")
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
        "EVAL_DEVICE": "cpu",
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
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from rest_framework.test import APIClient

    from leaderboard.submissions.models import ShardResult, Status, Submission
    from leaderboard.storage import private_path
    from workers import evaluation
    from workers.pipeline import start_evaluation
    from workers.synthetic import create_benchmark, create_submission, noisy_predictions

    user = get_user_model().objects.create_user("bench")
    benchmark = create_benchmark("bench-big", args.samples)
    small = create_benchmark("bench-small", args.small, seed=3)
    loads = (False,) if args.no_loaded else (False, True)
    print(f"scratch folder (worker logs): {tmp}")
    print(f"{args.samples} samples, chunk {settings.EVAL_CHUNK_SIZE}, max shard {settings.EVAL_SHARD_SIZE}, "
          f"{settings.EVAL_SHARDS_PER_PROCESS} shards per process; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at start, torch {torch.__version__}, device cpu")

    rates: dict[tuple[str, bool], float] = {}
    reference = create_submission(user, [benchmark], method_name="direct")
    gt_path, pred_path = private_path(benchmark.gt_path), private_path(reference.predictions_name(benchmark.slug))
    protocol = benchmark.get_protocol()

    def in_process() -> dict:
        """What one shard task does, over the whole benchmark (stored GT meshes included)."""
        scores = evaluation.score_range(protocol, gt_path, pred_path, 0, args.samples, settings.EVAL_CHUNK_SIZE)
        return {split: s.means() for split, s in scores.sums.items()}

    direct = None
    for loaded in loads:
        with busy_loop(loaded):
            for threads in (1, 2):
                torch.set_num_threads(threads)
                in_process()  # warm-up (and the GT meshes get stored)
                started = time.perf_counter()
                direct = in_process()
                rates[(f"in-process, {threads} thread(s)", loaded)] = args.samples / (time.perf_counter() - started)
                print(f"  {'loaded' if loaded else 'quiet'}: in-process {threads} thread(s): "
                      f"{rates[(f'in-process, {threads} thread(s)', loaded)]:,.0f} samples/s", flush=True)
            for processes, threads in WORKER_SETUPS:
                with worker(env, tmp / f"worker-{processes}x{threads}-{int(loaded)}.log", processes, threads):
                    submission = create_submission(user, [benchmark], method_name=f"{processes}x{threads}")
                    started = time.perf_counter()
                    start_evaluation(submission.pk)
                    wait_final(submission.pk)
                    elapsed = time.perf_counter() - started
                submission.refresh_from_db()
                assert submission.status == Status.FINISHED, submission.error_message
                stored = {r.split: {k: v for k, v in r.metrics.items() if k in direct[r.split]}
                          for r in submission.results.all()}
                same = stored == {split: {k: v for k, v in m.items() if v is not None} for split, m in direct.items()}
                label = f"worker {processes} process(es) x {threads} thread(s)"
                rates[(label, loaded)] = args.samples / elapsed
                print(f"  {'loaded' if loaded else 'quiet'}: {label}: {args.samples / elapsed:,.0f} samples/s, "
                      f"{submission.progress_total} shards, results identical to in-process: {same}", flush=True)

    print(f"\n{'samples/s':<52} {'quiet':>8} {'loaded':>8} {'loaded/quiet':>13}")
    base = rates[("in-process, 1 thread(s)", False)]
    for label in dict.fromkeys(k for k, _ in rates):
        quiet, busy = rates[(label, False)], rates.get((label, True))
        tail = f" {busy:>8,.0f} {busy / quiet:>12.2f}x" if busy else ""
        print(f"{label:<52} {quiet:>8,.0f}{tail}   ({quiet / base:.2f}x in-process 1 thread, quiet)")

    # Upload -> finished for a small submission, through the API, on the 2 x 1 worker.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = io.BytesIO()
        np.savez(member, **noisy_predictions(small.gt_arrays))
        archive.writestr(f"{small.slug}.npz", member.getvalue())
    client = APIClient()
    client.force_authenticate(user)
    with worker(env, tmp / "worker-latency.log", 2, 1):
        for attempt in ("first (GT meshes built)", "second (GT meshes stored)"):
            buffer.seek(0)
            upload = io.BytesIO(buffer.getvalue())
            upload.name = "predictions.zip"
            t0 = time.perf_counter()
            response = client.post("/api/v1/submissions/", {"file": upload, "method_name": f"latency {attempt}"},
                                   format="multipart")
            t_upload = time.perf_counter()
            assert response.status_code == 201, response.content
            submission = Submission.objects.get(uuid=response.json()["id"])
            seen = wait_final(submission.pk)
            assert Status.FINISHED in seen, Submission.objects.get(pk=submission.pk).error_message
            t_end = seen[Status.FINISHED]
            t_queued = seen.get(Status.QUEUED, t_upload)
            t_running = seen.get(Status.RUNNING, t_queued)
            shards = ShardResult.objects.filter(submission=submission).count()
            print(f"\nupload -> finished, {args.small} samples, {attempt}: {t_end - t0:.2f} s = upload "
                  f"{t_upload - t0:.2f} s + validation {t_queued - t_upload:.2f} s + queue -> first shard "
                  f"{t_running - t_queued:.2f} s + shards and finalize {t_end - t_running:.2f} s ({shards} shards)")

    per_message, old_per_message = sweeper_scan_cost(args.queue_messages)
    print(f"\nsweeper queue scan: {1e6 * per_message:.2f} us per queued message, exact at any backlog, vs "
          f"{1e6 * old_per_message:.2f} us for the previous per-message JSON scan (capped at 100k): "
          f"{old_per_message / per_message:.1f}x ({args.queue_messages:,} messages)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")

    from django.db import connections

    connections.close_all()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}"')


if __name__ == "__main__":
    main()
