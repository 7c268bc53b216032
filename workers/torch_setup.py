"""Per-process torch set-up for worker pool processes.

With ``--concurrency N`` every pool process runs torch; letting each use all cores would oversubscribe
the CPU (N x cores threads fighting), which is slower than one thread each. The parent learns N in
``worker_init`` and hands it to its forked children through the environment. Each child then sets its
thread count and warms the body model cache so the first shard does not pay for loading it.
"""
from __future__ import annotations

import logging
import os

from celery import signals

logger = logging.getLogger(__name__)

_CONCURRENCY_ENV = "EHPS_WORKER_CONCURRENCY"


def torch_threads(configured: int, concurrency: int, cpu_count: int | None) -> int:
    """Threads per pool process: the configured number, else the cores shared evenly (at least one)."""
    if configured > 0:
        return configured
    return max(1, (cpu_count or 1) // max(1, concurrency))


@signals.worker_init.connect
def _remember_concurrency(sender=None, **_kwargs) -> None:
    concurrency = getattr(sender, "concurrency", None)
    if isinstance(concurrency, int) and concurrency > 0:
        os.environ[_CONCURRENCY_ENV] = str(concurrency)


@signals.worker_process_init.connect
def _init_pool_process(**_kwargs) -> None:
    configure_process(warm=True)


def configure_process(warm: bool) -> None:
    """Set torch's thread count for this process and, if ``warm``, load the body model into the cache."""
    import torch
    from django.conf import settings

    concurrency = int(os.environ.get(_CONCURRENCY_ENV, "1"))
    threads = torch_threads(settings.EVAL_TORCH_THREADS, concurrency, os.cpu_count())
    torch.set_num_threads(threads)
    logger.info("torch uses %d thread(s) in this worker process (concurrency %d)", threads, concurrency)
    if warm:
        from workers.evaluation import warm_body_model

        try:
            warm_body_model()
        except Exception:  # a missing model must not stop the worker; the first task reports it clearly
            logger.exception("Could not preload the body model from %s", settings.SMPLX_MODEL_DIR)
