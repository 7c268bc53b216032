"""EHPS Leaderboard Django project."""

# Load the Celery app with Django so @shared_task binds to it (Celery's documented Django pattern).
from workers.celery_app import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
