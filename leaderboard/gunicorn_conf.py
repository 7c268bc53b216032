"""gunicorn settings for the site (``gunicorn -c python:leaderboard.gunicorn_conf leaderboard.wsgi``).

Threaded workers: a client that sends its request slowly holds one thread of a bounded pool, not a whole
worker process, so a few slow uploads cannot block every page (with sync workers three did). Each process
serves WEB_THREADS requests at once; WEB_CONCURRENCY processes. In production a reverse proxy that buffers
request bodies (see README, "Production") keeps slow clients away from gunicorn altogether.
Command-line flags override these values.

Sizing (docs/performance.md, "Choosing workers x threads"): one process per core, 4 threads each. A process runs
Python on one core at a time (the GIL), and a cached page costs ~0.07 ms of Python against ~0.6 ms of gunicorn
and kernel work per connection, so more processes than cores add context switches, memory and database
connections but no throughput; the threads overlap what waits (the database on a cache miss or a signed-in
page, a slow client). On 2 cores under 32 clients 2 x 4 beat 3 x 8 and 4 x 8 (the previous defaults) in
p99. Set WEB_CONCURRENCY when the CPUs this process may use are not the machine's (a container CPU quota).
"""
import os

from evaluator.chunk_threads import usable_cpus  # stdlib only at import (torch is imported where it is used)


wsgi_app = "leaderboard.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY") or usable_cpus())
threads = int(os.environ.get("WEB_THREADS") or 4)
# Connections a process keeps open (kept-alive or waiting for their first bytes) beyond the busy threads.
worker_connections = int(os.environ.get("WEB_WORKER_CONNECTIONS", "200"))
keepalive = 5
timeout = int(os.environ.get("WEB_TIMEOUT", "120"))  # gthread: a process whose main loop is silent this long
graceful_timeout = 30
limit_request_line = 8190
limit_request_fields = 100


def on_starting(server) -> None:
    """Remove temp uploads of requests that a previous run was killed in the middle of."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
    django.setup()
    from leaderboard.upload_temp import remove_stale_uploads

    remove_stale_uploads()


def post_worker_init(worker) -> None:
    """After a worker loaded the site: keep the leaderboard version memo fresh off the request path, and move
    everything loaded so far out of the cyclic garbage collector's reach (it is never garbage; without this every
    full collection walks all of Django again, a pause in the middle of whichever requests are running)."""
    import gc

    from leaderboard.submissions.version_refresher import start_version_refresher

    start_version_refresher()
    gc.collect()
    gc.freeze()
