"""Evaluation on real Celery workers (Redis broker, PostgreSQL) vs in-process, on a quiet and on a loaded machine.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ehps .venv/bin/python bench/bench_workers.py [--samples 2048]

Creates a scratch database ``<name>_bench`` (dropped at the end), a synthetic SMPL-X model and benchmarks in a
temporary folder, starts a private redis-server (the machine's shared Redis is left alone), and prints, side by side
in one run, each block with the load average (as ``uptime`` prints it):

- samples/s of the evaluator in this process (1 and 2 torch threads, 2 chunk threads x 1 torch thread) and on one
  worker with 1 pool process x 1 thread, 1 x 2 threads, 1 x 1 thread scoring 2 chunks at a time
  (EVAL_SCORING_THREADS=2) and 2 x 1 thread (shards planned for the processes), end to end (start_evaluation ->
  finished, validation included) and scoring only (first shard started -> finished), each on the machine as it
  is ("quiet") and with one extra busy loop beside it ("loaded");
- upload -> finished latency of a small submission through the API, split per stage (upload, validation, queue
  wait, shards, finalize) from the submission's and its shard rows' timestamps, on the filesystem store and on the
  object store (EHPS_STORAGE=s3 against moto_server, web and worker with their own keys, roots and caches;
  ``--latency-only`` runs just these);
- the sweeper's broker queue scan per queued message, now vs before (bench/bench_queue_scan.py, in a process of
  its own);
- with ``--scaling 1 2 4`` only: samples/s of one worker with 1, 2, 4 pool processes (1 torch thread each) and the
  scaling efficiency rate(N) / (N x rate(1)).

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
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from contention import busy_loop, load_average  # noqa: E402
from tests.fixtures_live import RedisServer, free_port  # noqa: E402

# (pool processes, torch threads each, chunks scored at a time each: EVAL_SCORING_THREADS)
WORKER_SETUPS = ((1, 1, 1), (1, 2, 1), (1, 1, 2), (2, 1, 1))


@contextmanager
def worker(env: dict[str, str], log: Path, processes: int, threads: int, scoring_threads: int = 1):
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workers", "worker", "-Q", "validate,evaluate,finalize",
             "--concurrency", str(processes), "--hostname", f"bench{processes}x{threads}x{scoring_threads}@%h", "--loglevel", "INFO",
             "--without-gossip", "--without-mingle"],
            cwd=REPO, env={**env, "EVAL_TORCH_THREADS": str(threads), "EVAL_SCORING_THREADS": str(scoring_threads)},
            start_new_session=True, stdout=out,
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
    """Poll until final; returns the wall-clock time each status was first seen (comparable with the rows' stamps)."""
    from leaderboard.submissions.models import Status, Submission

    seen: dict[str, float] = {}
    while True:
        status = Submission.objects.filter(pk=submission_id).values_list("status", flat=True).get()
        seen.setdefault(status, time.time())
        if status in (Status.FINISHED, Status.FAILED, Status.CANCELLED):
            return seen
        time.sleep(poll_s)


def stages(submission, posted: float, answered: float, seen: dict[str, float]) -> dict[str, float]:
    """Seconds per stage of one submission, from the upload's POST to its owner seeing it finished.

    The upload ends when its row is stored (``created_at``): validation is queued on that commit and may start
    before the HTTP answer reaches the client, so the answer's time would make the stages overlap."""
    from leaderboard.submissions.models import ShardResult, Status

    stored = submission.created_at.timestamp()
    polled = seen.get(Status.QUEUED, answered)  # polled every 20 ms; the other stamps are the rows'
    started = submission.started_at.timestamp() if submission.started_at else polled
    queued = max(stored, min(polled, started))
    last_shard = max(ShardResult.objects.filter(submission=submission).values_list("completed_at", flat=True))
    finished = submission.finished_at.timestamp()
    return {"upload": stored - posted, "validation": queued - stored, "queue wait": started - queued,
            "shards": last_shard.timestamp() - started, "finalize": finished - last_shard.timestamp(),
            "poll lag": seen[Status.FINISHED] - finished}


def scratch_database(base_url: str) -> tuple[str, str, str]:
    """(admin URL, scratch database name, its URL) next to the database of ``base_url``."""
    parts = urlparse(base_url)
    name = f"{parts.path.lstrip('/') or 'ehps'}_bench"
    return urlunparse(parts._replace(path="/postgres")), name, urlunparse(parts._replace(path=f"/{name}"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2048)
    parser.add_argument("--small", type=int, default=64, help="samples of the latency benchmark")
    parser.add_argument("--queue-messages", type=int, default=100_000)
    parser.add_argument("--no-loaded", action="store_true", help="skip the runs with an extra busy loop")
    parser.add_argument("--latency-only", action="store_true",
                        help="only upload -> finished of the small submission, filesystem vs object store")
    parser.add_argument("--scaling", type=int, nargs="*", metavar="N",
                        help="only throughput with N worker pool processes (e.g. 1 2 4; 1 torch thread each, one "
                             "worker per run) and the scaling efficiency")
    args = parser.parse_args()

    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL=postgres://... (the bench creates and drops <name>_bench next to it).")
    admin_url, bench_db, db_url = scratch_database(os.environ["DATABASE_URL"])
    tmp = Path(tempfile.mkdtemp(prefix="ehps-bench-"))
    broker = RedisServer(free_port(), tmp)
    broker.start()
    outer_env = dict(os.environ)
    env = {
        **outer_env, "DATABASE_URL": db_url, "PRIVATE_STORAGE_ROOT": str(tmp / "private"),
        "SMPLX_MODEL_DIR": str(tmp / "smplx"), "CELERY_BROKER_URL": f"{broker.url}/0",
        "CELERY_RESULT_BACKEND": f"{broker.url}/1", "EVAL_DEVICE": "cpu",
    }
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}"')
        conn.execute(f'CREATE DATABASE "{bench_db}"')
    try:
        run = lambda *cmd: subprocess.run(cmd, cwd=REPO, env=env, check=True, capture_output=True)  # noqa: E731
        run(sys.executable, "-m", "evaluator", "make-synthetic-model", "--out", env["SMPLX_MODEL_DIR"], "--seed", "0")
        run(sys.executable, "manage.py", "migrate", "--noinput")
        measure(args, env, outer_env, tmp)
    finally:
        from django.db import connections

        connections.close_all()
        broker.stop()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{bench_db}"')


def measure(args: argparse.Namespace, env: dict[str, str], outer_env: dict[str, str], tmp: Path) -> None:
    import django

    django.setup()
    import torch
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from leaderboard.storage import private_path
    from leaderboard.submissions.models import Status, Submission
    from workers import evaluation
    from workers.pipeline import start_evaluation
    from workers.synthetic import create_benchmark, create_submission

    user = get_user_model().objects.create_user("bench")
    benchmark = create_benchmark("bench-big", args.samples)
    small = create_benchmark("bench-small", args.small, seed=3)
    loads = (False,) if args.no_loaded else (False, True)
    print(f"scratch folder (worker logs): {tmp}")
    print(f"{args.samples} samples, chunk {settings.EVAL_CHUNK_SIZE}, max shard {settings.EVAL_SHARD_SIZE}, "
          f"{settings.EVAL_SHARDS_PER_PROCESS} shards per process; torch {torch.__version__}, device cpu; "
          f"start: {load_average()}")

    if args.scaling:
        return scaling(args, env, tmp, user, benchmark)
    if args.latency_only:
        loads = ()
    rates: dict[tuple[str, bool], float] = {}
    reference = create_submission(user, [benchmark], method_name="direct")
    gt_path, pred_path = private_path(benchmark.gt_path), private_path(reference.predictions_name(benchmark.slug))
    protocol = benchmark.get_protocol()

    def in_process(chunk_threads: int) -> dict:
        """What one shard task does, over the whole benchmark (stored GT meshes included)."""
        scores = evaluation.score_range(protocol, gt_path, pred_path, 0, args.samples, settings.EVAL_CHUNK_SIZE,
                                        threads=chunk_threads)
        return {split: s.means() for split, s in scores.sums.items()}

    direct = None
    for loaded in loads:
        machine = "loaded" if loaded else "quiet"
        with busy_loop(loaded):
            for threads, chunk_threads in ((1, 1), (2, 1), (1, 2)):
                torch.set_num_threads(threads)
                in_process(chunk_threads)  # warm-up (and the GT meshes get stored)
                started = time.perf_counter()
                direct = in_process(chunk_threads)
                label = (f"in-process, {threads} thread(s)" if chunk_threads == 1 else
                         f"in-process, {chunk_threads} chunk threads x 1")
                rates[(label, loaded)] = args.samples / (time.perf_counter() - started)
                print(f"  {machine}: {label}: {rates[(label, loaded)]:,.0f} samples/s ({load_average()})", flush=True)
            for processes, threads, scoring_threads in WORKER_SETUPS:
                name = f"{processes}x{threads}" + (f"x{scoring_threads}chunks" if scoring_threads > 1 else "")
                with worker(env, tmp / f"worker-{name}-{int(loaded)}.log", processes, threads, scoring_threads):
                    submission = create_submission(user, [benchmark], method_name=name)
                    started = time.perf_counter()
                    start_evaluation(submission.pk)
                    wait_final(submission.pk)
                    elapsed = time.perf_counter() - started
                submission.refresh_from_db()
                assert submission.status == Status.FINISHED, submission.error_message
                stored = {r.split: {k: v for k, v in r.metrics.items() if k in direct[r.split]}
                          for r in submission.results.all()}
                same = stored == {split: {k: v for k, v in m.items() if v is not None} for split, m in direct.items()}
                label = f"worker {processes} process(es) x {threads} thread(s)" + (
                    f" x {scoring_threads} chunks" if scoring_threads > 1 else "")
                # End to end includes validation (GT hash, the worker-count broadcast); scoring is first shard to finished.
                scoring = (submission.finished_at - submission.started_at).total_seconds()
                rates[(label, loaded)] = args.samples / elapsed
                rates[(f"{label}, scoring only", loaded)] = args.samples / scoring
                print(f"  {machine}: {label}: {args.samples / elapsed:,.0f} samples/s end to end, "
                      f"{args.samples / scoring:,.0f} scoring only, {submission.progress_total} shards, "
                      f"results identical to in-process: {same} ({load_average()})", flush=True)

    if rates:
        print(f"\n{'samples/s':<58} {'quiet':>7} {'loaded':>7} {'loaded/quiet':>13}   vs in-process 1 thread, same load")
        for label in dict.fromkeys(k for k, _ in rates):
            quiet, busy = rates[(label, False)], rates.get((label, True))
            ratios = f"{quiet / rates[('in-process, 1 thread(s)', False)]:.2f}x quiet"
            if busy:
                ratios += f", {busy / rates[('in-process, 1 thread(s)', True)]:.2f}x loaded"
            tail = f" {busy:>7,.0f} {busy / quiet:>12.2f}x" if busy else f" {'':>7} {'':>13}"
            print(f"{label:<58} {quiet:>7,.0f}{tail}   {ratios}")

    # Upload -> finished for a small submission, through the API, on the 2 x 1 worker: filesystem, then object store.
    upload_latency(args, user, small, env, tmp, "filesystem")
    with object_store(env, tmp) as (stored_env, web_settings, importer_settings):
        with importer_settings:
            small_s3 = create_benchmark("bench-small-s3", args.small, seed=3)
        with web_settings:
            upload_latency(args, user, small_s3, stored_env, tmp, "object store (S3, moto_server)")
    if args.latency_only:
        return

    print(f"\nsweeper queue scan, {args.queue_messages:,} queued messages (bench/bench_queue_scan.py):", flush=True)
    subprocess.run([sys.executable, str(REPO / "bench" / "bench_queue_scan.py"), "--counts", str(args.queue_messages),
                    "--no-loaded"], env=outer_env, check=True)  # its own process: Celery reads CELERY_BROKER_URL


def scaling(args: argparse.Namespace, env: dict[str, str], tmp: Path, user, benchmark) -> None:
    """samples/s of one worker with N pool processes (shards planned for N: EVAL_WORKER_PROCESSES), each N once
    warm-up-free (the host's GT meshes are stored by the first run), and efficiency = rate(N) / (N x rate(1))."""
    from leaderboard.submissions.models import Status
    from workers.pipeline import start_evaluation
    from workers.synthetic import create_submission

    warm = create_submission(user, [benchmark], method_name="warm-up")  # stores the GT meshes once, like a host would
    with worker(env, tmp / "worker-warm.log", 1, 1):
        start_evaluation(warm.pk)
        wait_final(warm.pk)
    rows = []
    for processes in args.scaling:
        run_env = {**env, "EVAL_WORKER_PROCESSES": str(processes)}
        with worker(run_env, tmp / f"worker-scaling-{processes}.log", processes, 1):
            submission = create_submission(user, [benchmark], method_name=f"{processes} processes")
            started = time.perf_counter()  # the worker plans shards for its N processes (its own environment)
            start_evaluation(submission.pk)
            wait_final(submission.pk)
            elapsed = time.perf_counter() - started
        submission.refresh_from_db()
        assert submission.status == Status.FINISHED, submission.error_message
        scoring = (submission.finished_at - submission.started_at).total_seconds()
        rows.append((processes, args.samples / elapsed, args.samples / scoring, submission.progress_total))
        print(f"  {processes} process(es): {rows[-1][1]:,.0f} samples/s end to end, {rows[-1][2]:,.0f} scoring only, "
              f"{rows[-1][3]} shards ({load_average()})", flush=True)
    base = {1: rows[0][1:3]} if rows and rows[0][0] == 1 else {}
    print(f"\n{'processes':>9} {'end to end':>11} {'efficiency':>11} {'scoring':>9} {'efficiency':>11}   ({os.cpu_count()} CPUs)")
    for processes, end_to_end, scoring, _ in rows:
        eff = (f"{end_to_end / (processes * base[1][0]):>10.0%} ", f"{scoring / (processes * base[1][1]):>10.0%}") \
            if base else ("", "")
        print(f"{processes:>9} {end_to_end:>11,.0f} {eff[0]:>11} {scoring:>9,.0f} {eff[1]:>11}")


def upload_latency(args: argparse.Namespace, user, small, env: dict[str, str], tmp: Path, where: str) -> None:
    """Upload -> finished of a small predictions zip through the API on a 2 x 1 worker, twice, split per stage."""
    from rest_framework.test import APIClient

    from leaderboard.submissions.models import Status, Submission
    from workers.synthetic import noisy_predictions

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        member = io.BytesIO()
        np.savez(member, **noisy_predictions(small.gt_arrays))
        archive.writestr(f"{small.slug}.npz", member.getvalue())
    client = APIClient()
    client.force_authenticate(user)
    with worker(env, tmp / f"worker-latency-{where.split()[0]}.log", 2, 1):
        for attempt in ("first (GT meshes built)", "second (GT meshes stored)"):
            upload = io.BytesIO(buffer.getvalue())
            upload.name = "predictions.zip"
            posted = time.time()
            response = client.post("/api/v1/submissions/", {"file": upload, "method_name": f"latency {attempt}"},
                                   format="multipart")
            answered = time.time()
            assert response.status_code == 201, response.content
            submission = Submission.objects.get(uuid=response.json()["id"])
            seen = wait_final(submission.pk)
            submission.refresh_from_db()
            assert submission.status == Status.FINISHED, submission.error_message
            split = stages(submission, posted, answered, seen)
            print(f"\n{where}: upload -> finished, {args.small} samples, {attempt}: {seen[Status.FINISHED] - posted:.2f} s = "
                  + " + ".join(f"{name} {seconds:.2f}" for name, seconds in split.items())
                  + f" s; the API answered after {answered - posted:.2f} s ({submission.progress_total} shards; "
                  f"{load_average()})", flush=True)


@contextmanager
def object_store(env: dict[str, str], tmp: Path):
    """moto_server with the web/worker/importer keys (tests/s3_server.py): the worker's environment (own private root
    and cache) and this process's settings as the web and as the importer."""
    from django.conf import settings
    from django.test import override_settings

    from leaderboard.storage_config import private_stores
    from tests.s3_server import MotoS3

    server = MotoS3(tmp)
    server.start()
    base = {k: v for k, v in settings.STORAGES.items() if k in ("default", "staticfiles")}

    def host(role: str, gt: bool) -> override_settings:
        return override_settings(STORAGES={**base, **private_stores(server.env(role, gt))},
                                 PRIVATE_STORAGE_ROOT=tmp / f"{role}-private", OBJECT_CACHE_DIR=tmp / f"{role}-cache")

    worker_env = {**env, **server.env("worker", gt=True), "PRIVATE_STORAGE_ROOT": str(tmp / "worker-private"),
                  "OBJECT_CACHE_DIR": str(tmp / "worker-cache")}
    try:
        yield worker_env, host("web", False), host("importer", True)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
