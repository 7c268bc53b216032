"""The Celery application. Start a worker with ``celery -A workers worker -Q validate,evaluate,finalize``.

Configuration comes from Django settings (``CELERY_*``). The options below make long GPU jobs safe:
a message is acknowledged only after its task finished (acks_late), a worker takes one message at a
time (prefetch 1), and a message whose worker died is re-delivered (reject_on_worker_lost).
"""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")

app = Celery("ehps")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_track_started=True,
    broker_connection_retry_on_startup=True,
)
app.autodiscover_tasks(["workers"], related_name="tasks", force=True)
