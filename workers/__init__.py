"""Celery workers: validation, sharded evaluation, finalisation and the stuck-submission sweeper."""
from workers.celery_app import app as celery_app  # noqa: F401  (so `celery -A workers` finds it)
__all__ = ["celery_app"]
