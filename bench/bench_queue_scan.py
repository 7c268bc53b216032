"""The sweeper's broker queue scan, µs per queued message: today's code vs the two before it, side by side in one run.

    .venv/bin/python bench/bench_queue_scan.py [--counts 10000,100000,300000] [--rounds 3] [--no-loaded]

Starts a private redis-server (nothing persisted; the machine's shared Redis is left alone), queues a backlog of
real Celery ``evaluate_shard`` messages on the evaluate queue (tests/backlog.py) and times
``waiting_task_ids(app)``, round by round interleaved, of:

- now: ``workers/broker_queue.py`` in this checkout;
- previous: the module as of 7b8111d (2026-12-01: uncapped, ids found with bytes.find, but every LRANGE reply
  parsed by redis-py into one bytes object per message);
- original: the module as of 80191fc (every message JSON-decoded, stopping at 100k messages per queue).

The earlier versions are loaded from git, as they were, rather than rewritten here. Each is run on the machine
as it is ("quiet") and with one extra busy loop beside it ("loaded"). Ratios of medians are what to compare: the
absolute figures move with everyone else's load (printed with each block).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from celery import Celery  # noqa: E402

from contention import busy_loop, load_average  # noqa: E402
from tests.backlog import fill_backlog  # noqa: E402
from tests.fixtures_live import RedisServer, free_port  # noqa: E402
from workers import broker_queue  # noqa: E402

EARLIER = {"previous": "7b8111d", "original": "80191fc"}
ORIGINAL_CAP = 100_000


def module_at(commit: str) -> types.ModuleType:
    """workers/broker_queue.py as it was at ``commit``."""
    source = subprocess.run(["git", "show", f"{commit}:workers/broker_queue.py"], cwd=REPO, check=True,
                            capture_output=True, text=True).stdout
    module = types.ModuleType(f"broker_queue_{commit}")
    exec(compile(source, f"{commit}:workers/broker_queue.py", "exec"), module.__dict__)
    return module


@dataclass
class Row:
    queued: int
    loaded: bool
    load: str
    seconds: dict[str, list[float]]  # per scan, one entry per round
    seen: dict[str, int]  # task ids each scan found

    def per_message(self, name: str, stat: Callable[[list[float]], float] = statistics.median) -> float:
        """µs per message the scan read (the original reads at most ORIGINAL_CAP)."""
        read = min(self.queued, ORIGINAL_CAP) if name == "original" else self.queued
        return 1e6 * stat(self.seconds[name]) / read


def measure(counts: list[int], rounds: int, loads: tuple[bool, ...]) -> list[Row]:
    scans = {"now": broker_queue.waiting_task_ids,
             **{name: module_at(commit).waiting_task_ids for name, commit in EARLIER.items()}}
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="ehps-queue-scan-") as workdir:
        server = RedisServer(free_port(), Path(workdir))
        server.start()
        app = Celery("bench-queue-scan", broker=f"{server.url}/0", set_as_current=False)
        try:
            queued: list[str] = []
            for count in sorted(counts):
                new = [f"backlog-{i:07d}" for i in range(len(queued), count)]
                fill_backlog(app, "evaluate", new)
                queued += new
                everything = set(queued)
                for loaded in loads:
                    with busy_loop(loaded):
                        time.sleep(0.5 if loaded else 0)  # let the loop take its core
                        row = Row(count, loaded, load_average(), {name: [] for name in scans}, {})
                        names = list(scans)
                        for round_ in range(rounds):
                            for name in names[round_ % 3:] + names[:round_ % 3]:  # each goes first in turn
                                started = time.perf_counter()
                                ids = scans[name](app)
                                row.seconds[name].append(time.perf_counter() - started)
                                row.seen[name] = len(ids or ())
                                assert ids is not None and ids <= everything, name
                    assert row.seen["now"] == row.seen["previous"] == count, row.seen
                    rows.append(row)
        finally:
            app.close()
            server.stop()
    return rows


def report(rows: list[Row]) -> None:
    print("µs per queued message, median (best) of the rounds; ratios of the medians")
    print(f"{'queued':>8} {'machine':>7} {'now':>14} {'previous':>14} {'original':>14} {'prev/now':>9} "
          f"{'orig/now':>9} {'original sees':>14}  load")
    for r in rows:
        cells = " ".join(f"{f'{r.per_message(n):.2f} ({r.per_message(n, min):.2f})':>14}" for n in r.seconds)
        print(f"{r.queued:>8,} {'loaded' if r.loaded else 'quiet':>7} {cells} "
              f"{r.per_message('previous') / r.per_message('now'):>8.1f}x "
              f"{r.per_message('original') / r.per_message('now'):>8.1f}x {r.seen['original']:>14,}  {r.load}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="10000,100000,300000", help="backlog sizes, comma-separated")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-loaded", action="store_true", help="skip the runs with an extra busy loop")
    args = parser.parse_args()
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_READ_URL", "CELERY_BROKER_WRITE_URL"):
        os.environ.pop(name, None)  # Celery prefers them to the broker it is given: the private server's
    print(f"start: {load_average()}")
    report(measure([int(c) for c in args.counts.split(",")], args.rounds,
                   (False,) if args.no_loaded else (False, True)))
    print(f"end: {load_average()}")


if __name__ == "__main__":
    main()
