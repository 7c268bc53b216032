"""Score chunks on several Python threads, each running torch on one thread.

torch's own intra-op threads split every op of a chunk and meet at a barrier after each one: the ~300 small
ops of the metrics then scale poorly (1.3x from 1 to 2 threads on the 2-core development machine) and one
descheduled thread stalls the whole process. Chunks are independent, so running whole chunks side by side,
each op on its calling thread, keeps every core busy between the ops as well (torch releases the GIL inside
its kernels). Measured on that machine (bench/bench_evaluator.py, full suite with stored GT meshes, 2026-12-02):
1,909-2,208 samples/s with 2 chunk threads against 1,650-1,857 with 2 torch threads, and with one busy loop
beside it 1,544 against 554 (docs/performance.md). Every chunk is computed exactly as on one thread, so the
results are bit-identical (see the chunk-size invariance of the lean forward and the metrics).
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")
R = TypeVar("R")

LOOKAHEAD = 2  # chunks queued per thread beyond the running ones: enough to never idle, bounded memory


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which a container's cpuset narrows)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@contextmanager
def single_threaded_torch() -> Iterator[None]:
    """torch's intra-op thread count set to 1 for the block (it is per process), then restored."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def map_chunks(fn: Callable[[T], R], items: Iterable[T], threads: int = 1) -> Iterator[R]:
    """``fn`` over ``items``, results in order. With ``threads`` > 1 the calls run on that many threads
    with torch on one thread each; at most ``threads * (1 + LOOKAHEAD)`` are started ahead of the
    consumer. If the consumer stops early or a call raises, calls not yet started are cancelled."""
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    if threads == 1:
        yield from map(fn, items)
        return
    with single_threaded_torch(), ThreadPoolExecutor(threads, thread_name_prefix="evaluator-chunk") as pool:
        pending: deque[Future[R]] = deque()
        try:
            for item in items:
                pending.append(pool.submit(fn, item))
                if len(pending) > threads * (1 + LOOKAHEAD):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
