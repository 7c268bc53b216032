"""Issue 12, Medium 12: no public credentials by default. The demo admin gets a random password (printed), and
the site refuses to serve with DEBUG off and the public development SECRET_KEY."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from tests.conftest import REPO_ROOT


def ensure_admin(monkeypatch, password: str | None = None) -> str:
    if password is None:
        monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", password)
    out = StringIO()
    call_command("ensure_admin", stdout=out)
    return out.getvalue()


def printed_password(output: str) -> str:
    match = re.search(r"admin login: admin / (\S+)", output)
    assert match, output
    return match[1]


def test_the_admin_gets_a_random_printed_password(db, monkeypatch):
    first = printed_password(ensure_admin(monkeypatch))
    assert first != "admin-demo-password" and len(first) >= 12
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(first)
    assert not admin.check_password("admin-demo-password")
    assert Client().post("/api/v1/auth/token/", {"username": "admin", "password": "admin-demo-password"}).status_code == 400
    # Next start: the password is kept (and not printed again).
    again = ensure_admin(monkeypatch)
    assert "existing password kept" in again and first not in again
    admin.refresh_from_db()
    assert admin.check_password(first)


def test_an_old_public_demo_password_is_replaced(db, monkeypatch):
    User.objects.create_superuser("admin", "admin@example.org", "admin-demo-password")
    new = printed_password(ensure_admin(monkeypatch))
    admin = User.objects.get(username="admin")
    assert admin.check_password(new) and not admin.check_password("admin-demo-password")


def test_a_chosen_password_is_used(db, monkeypatch):
    assert printed_password(ensure_admin(monkeypatch, "chosen-Pass-1234")) == "chosen-Pass-1234"
    assert User.objects.get(username="admin").check_password("chosen-Pass-1234")


def load_wsgi(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SECRET_KEY", "DJANGO_DEBUG")}
    return subprocess.run([sys.executable, "-c", "import leaderboard.wsgi"], cwd=REPO_ROOT, capture_output=True,
                          text=True, env={**base, "PYTHONPATH": str(REPO_ROOT), **env}, timeout=120)


@pytest.mark.slow
def test_serving_refuses_the_public_secret_key_with_debug_off():
    refused = load_wsgi(DJANGO_DEBUG="0")
    assert refused.returncode != 0 and "DJANGO_SECRET_KEY is not set" in refused.stderr
    assert load_wsgi(DJANGO_DEBUG="0", DJANGO_SECRET_KEY="a-long-random-production-key-" + "x" * 30).returncode == 0
    assert load_wsgi(DJANGO_DEBUG="1").returncode == 0  # local development


def test_serve_script_uses_no_fixed_password():
    script = (REPO_ROOT / "scripts" / "serve").read_text()
    assert "admin-demo-password" not in script and "ensure_admin" in script
