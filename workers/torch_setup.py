"""Per-process torch set-up for worker pool processes.

Threads x processes: by default every pool process runs torch on ONE thread, and a host runs as many
pool processes as it has cores (``--concurrency``). On a quiet machine that scores as fast as fewer
processes with more threads each (shards keep them all busy, see workers.capacity), and it degrades
gracefully when anything else needs a core: torch's intra-op threads wait for each other at every op,
so one descheduled thread stalls its whole process (issue 14: with one busy loop beside it a 2-thread
worker fell from 370 to 154 samples/s while a 1-thread one stayed at 210). ``EVAL_TORCH_THREADS``
overrides this, e.g. for a GPU worker or a host short of memory for one process per core
(docs/workers.md). The parent learns N in ``worker_init`` and hands it to its forked children through
the environment; each child sets its thread count and warms the body model cache.
"""
from __future__ import annotations

import logging
import os

from celery import signals

logger = logging.getLogger(__name__)

_CONCURRENCY_ENV = "EHPS_WORKER_CONCURRENCY"


def torch_threads(configured: int) -> int:
    """Threads per pool process: ``EVAL_TORCH_THREADS`` when set (> 0), else one."""
    return configured if configured > 0 else 1


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
    threads = torch_threads(settings.EVAL_TORCH_THREADS)
    torch.set_num_threads(threads)
    logger.info("torch uses %d thread(s) in this worker process (concurrency %d)", threads, concurrency)
    if warm:
        from workers.evaluation import warm_body_model

        try:
            warm_body_model()
        except Exception:  # a missing model must not stop the worker; the first task reports it clearly
            logger.exception("Could not preload the body model from %s", settings.SMPLX_MODEL_DIR)
