"""A burst of submissions through the API, all evaluated by real workers: none lost, none duplicated.

Run by hand (PostgreSQL on 127.0.0.1:5432, redis-server installed):

    .venv/bin/python bench/bench_burst.py [--submissions 200] [--samples 256] [--workers 2] [--clients 8]

Creates (and drops afterwards) the database ``ehps_bench_burst``, imports one synthetic benchmark, starts a
private redis-server, gunicorn and ``--workers`` Celery workers (concurrency 1 each), then POSTs the
submissions with a token from ``--clients`` threads (quotas and throttles relaxed through the environment)
and waits until every one is final. Checks: one Submission per 201 answer, all FINISHED, exactly one
BenchmarkResult and the planned ShardResults each. Prints upload rate, evaluation throughput and wall time.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_web import bench_stack, gunicorn_port, load  # noqa: E402

from tests.fixtures_live import wait_until  # noqa: E402

RELAXED = {"SUBMISSIONS_PER_BENCHMARK_PER_DAY": "100000", "MAX_SUBMISSIONS_IN_PROGRESS": "100000",
           "API_THROTTLE_USER": "1000000/min", "API_THROTTLE_ANON": "1000000/min"}


def multipart(fields: dict[str, str], file_name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    out = io.BytesIO()
    for key, value in fields.items():
        out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{file_name}"\r\n'
              "Content-Type: application/octet-stream\r\n\r\n".encode())
    out.write(data + f"\r\n--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=200)
    parser.add_argument("--samples", type=int, default=256, help="GT samples of the benchmark")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    with bench_stack("ehps_bench_burst", env_overrides=RELAXED) as stack:
        from django.contrib.auth.models import User
        from django.db.models import Count
        from rest_framework.authtoken.models import Token

        from leaderboard.submissions.models import BenchmarkResult, FINAL_STATUSES, ShardResult, Status, Submission
        from workers.synthetic import create_benchmark, noisy_predictions

        benchmark = create_benchmark("burst", args.samples)
        buffer = io.BytesIO()
        import numpy as np

        np.savez(buffer, **noisy_predictions(benchmark.gt_arrays))
        predictions = buffer.getvalue()
        token = Token.objects.create(user=User.objects.create_user("burster", password="pw-burst-123")).key

        for i in range(args.workers):
            stack.start_worker(f"w{i}")
        port = gunicorn_port(stack, 2)

        def body_for(n: int):
            body, content_type = multipart({"kind": "predictions", "benchmark": "burst", "method_name": f"burst-{n:04d}"},
                                           "burst.npz", predictions)
            return body, {"Content-Type": content_type}

        started = time.perf_counter()
        posted = load(port, "/api/v1/submissions/", args.clients, args.submissions, method="POST", body_for=body_for,
                      expect=201, headers={"Authorization": f"Token {token}"})
        upload_s = time.perf_counter() - started
        print(f"POSTed {posted.requests} submissions from {args.clients} clients in {upload_s:.1f} s "
              f"({posted.requests / upload_s:.1f}/s), {posted.errors} errors")

        def all_final() -> bool:
            return not Submission.objects.exclude(status__in=FINAL_STATUSES).exists()

        wait_until(all_final, 3600, 1.0, "every submission to be final")
        wall_s = time.perf_counter() - started

        statuses = dict(Submission.objects.values_list("status").annotate(n=Count("pk")))
        submissions = Submission.objects.count()
        results = BenchmarkResult.objects.count()
        shards = ShardResult.objects.count()
        planned = sum(len(s.eval_plan.get("shards", [])) for s in Submission.objects.all())
        names = Submission.objects.values_list("method_name", flat=True)
        report = {
            "submissions_posted": posted.requests - posted.errors,
            "submission_rows": submissions,
            "distinct_method_names": len(set(names)),
            "statuses": statuses,
            "benchmark_results": results,
            "shard_results": shards,
            "planned_shards": planned,
            "wall_s": round(wall_s, 1),
            "evaluations_per_s": round(submissions / wall_s, 2),
            "samples_per_s": round(submissions * args.samples / wall_s, 1),
        }
        print(json.dumps(report, indent=2))
        ok = (posted.errors == 0 and submissions == args.submissions == len(set(names)) == results
              and statuses == {Status.FINISHED: args.submissions} and shards == planned)
        print("OK: none lost, none duplicated" if ok else "PROBLEM: see the counts above")
        if not ok:
            sys.exit(1)


if __name__ == "__main__":
    main()
