"""``manage.py ensure_admin``: make sure a superuser exists, with a random password that is printed once.

scripts/serve runs it on every start. A new admin gets a random password (or DJANGO_SUPERUSER_PASSWORD when
set), printed so the operator can log in; an existing one keeps its password, unless it is still the public demo
password older versions created, which is replaced.
"""
from __future__ import annotations

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

PUBLIC_DEMO_PASSWORD = "admin-demo-password"  # what scripts/serve used to set; known to everyone


class Command(BaseCommand):
    help = "Create the admin superuser with a random password (printed), or keep the existing one."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("DJANGO_SUPERUSER_USERNAME", "admin"))
        parser.add_argument("--email", default=os.environ.get("DJANGO_SUPERUSER_EMAIL", "admin@example.org"))

    def handle(self, *args, username: str, email: str, **options) -> None:
        User = get_user_model()
        chosen = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        user = User.objects.filter(username=username).first()
        if user is not None and not user.check_password(PUBLIC_DEMO_PASSWORD) and not chosen:
            self.stdout.write(f"admin login: {username} (existing password kept; reset it with "
                              f"`manage.py changepassword {username}`)")
            return
        password = chosen or secrets.token_urlsafe(12)
        if user is None:
            user = User.objects.create_superuser(username, email, password)
        else:
            user.set_password(password)
            user.save(update_fields=["password"])
        self.stdout.write(f"admin login: {username} / {password}")
