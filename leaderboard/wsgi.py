"""WSGI entry point for gunicorn: ``gunicorn -c python:leaderboard.gunicorn_conf leaderboard.wsgi``."""
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leaderboard.settings")
application = get_wsgi_application()

from leaderboard.startup import check_serving_settings  # noqa: E402  (needs the settings loaded above)

check_serving_settings()
