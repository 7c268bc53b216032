"""Where a warm leaderboard request spends its time, in one process, without the network or gunicorn.

Run by hand (PostgreSQL on 127.0.0.1:5432):

    .venv/bin/python bench/profile_web.py [--submissions 5000] [--requests 2000] [--profile URL]

Seeds the database ``ehps_profile_web`` like ``bench/bench_web.py`` (dropped afterwards), writes the API's first
page as a static file, then calls the WSGI application directly (the callable gunicorn calls, every middleware
included) with a plain anonymous GET for each URL: the CPU per request (``time.process_time``), the database
queries a warm request makes, the body size, and the same for the static file served by whitenoise through the
same application. ``--profile URL`` prints that URL's top functions (cProfile, cumulative).
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from bench.bench_web import drop_database, fresh_database, seed_finished_submissions, setup_django  # noqa: E402


def environ_for(path: str, host: str = "127.0.0.1") -> dict:
    path_info, _, query = path.partition("?")
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path_info, "QUERY_STRING": query, "SERVER_NAME": host,
            "SERVER_PORT": "8000", "HTTP_HOST": host, "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr, "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1"}


def call(application, path: str) -> tuple[str, bytes]:
    status: list[str] = []
    result = application(environ_for(path), lambda s, headers, exc_info=None: status.append(s))
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    return status[0], body


def measure(application, path: str, requests: int) -> tuple[float, int, int, str]:
    """(CPU µs per request, queries of one warm request, body bytes, status)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for _ in range(20):
        call(application, path)
    with CaptureQueriesContext(connection) as queries:
        status, body = call(application, path)
    started = time.process_time()
    for _ in range(requests):
        call(application, path)
    return (time.process_time() - started) * 1e6 / requests, len(queries), len(body), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--benchmarks", type=int, default=5)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--profile", action="append", default=[], help="a URL to print the top functions of")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ehps_profile_web-"))
    fresh_database("ehps_profile_web")
    setup_django(work / "private", REPO_ROOT / "var" / "smplx_synthetic")
    try:
        slugs = seed_finished_submissions(args.submissions, args.benchmarks, args.users)
        from django.conf import settings
        from django.core.wsgi import get_wsgi_application

        from bench.bench_web import write_static_copy

        static = write_static_copy("/api/v1/leaderboard/")
        settings.DEBUG = False
        application = get_wsgi_application()  # whitenoise scans STATIC_ROOT now: the static copy is in it
        urls = ["/static/bench/leaderboard.json", "/", f"/benchmarks/{slugs[0]}/", "/api/v1/leaderboard/",
                f"/api/v1/leaderboard/{slugs[0]}/"]
        print(f"{args.submissions} submissions, {args.requests} warm anonymous GETs per URL\n")
        print("| URL | status | CPU µs / request | × static | DB queries (warm) | body bytes |\n|---|---|---|---|---|---|")
        baseline = None
        for url in urls:
            cpu, queries, size, status = measure(application, url, args.requests)
            baseline = baseline or cpu
            print(f"| `{url}` | {status.split()[0]} | {cpu:.0f} | {cpu / baseline:.2f} | {queries} | {size:,} |")
        for url in args.profile:
            profile = cProfile.Profile()
            profile.enable()
            for _ in range(args.requests):
                call(application, url)
            profile.disable()
            out = io.StringIO()
            pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(35)
            print(f"\n--- {url}\n{out.getvalue()}")
        static.unlink(missing_ok=True)
    finally:
        drop_database("ehps_profile_web")


if __name__ == "__main__":
    main()
