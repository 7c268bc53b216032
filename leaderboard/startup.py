"""Checks run before the site serves a request (issue 12, Medium 12: a public SECRET_KEY signs sessions,
CSRF tokens and password-reset links, so anyone could forge them)."""
from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def check_serving_settings() -> None:
    """Refuse to serve with DEBUG off and the public development SECRET_KEY."""
    if not settings.DEBUG and settings.SECRET_KEY == settings.INSECURE_DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set and DJANGO_DEBUG is off: refusing to serve with the public development key. "
            "Set DJANGO_SECRET_KEY to a long random value (scripts/serve generates one in var/secret_key), "
            "or DJANGO_DEBUG=1 for local development."
        )
