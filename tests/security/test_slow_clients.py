"""Issue 12, High 3: slow uploads must not freeze the site (with sync gunicorn workers three of them did).

A real gunicorn (leaderboard/gunicorn_conf.py) with ONE worker process; logged-in clients start uploads and then
stall mid-body, each holding a request open. Pages must still answer at once, and each stalled upload is answered
408 once it has been silent for REQUEST_BODY_STALL_TIMEOUT_S, which frees its thread. gunicorn's start-up also
removes the temp uploads that requests of an earlier run were killed in the middle of.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import socket
import time
from urllib.parse import urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.fixtures_live import LiveStack, live_stack  # noqa: F401  (fixture)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SLOW_UPLOADS = 3
STALL_TIMEOUT_S = 4


def stalled_upload(host: str, port: int, cookies: str, csrf: str) -> socket.socket:
    """Send an upload's headers and the first bytes of its body, then nothing."""
    sock = socket.create_connection((host, port), timeout=5)
    boundary = "slow"
    head = (f"POST /submit/ HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookies}\r\nX-CSRFToken: {csrf}\r\n"
            f"Referer: http://{host}:{port}/submit/\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: 1000000\r\n\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.npz\"\r\n\r\n")
    sock.sendall(head.encode() + b"\0" * 1000)
    return sock


def timed_get(host: str, port: int, path: str) -> tuple[int, float]:
    started = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status, time.monotonic() - started


def test_stalled_uploads_do_not_block_pages(live_stack: LiveStack, tmp_path):
    user = User.objects.create_user("slowpoke", password="pw-slow-123")
    browser = Client()
    browser.force_login(user)
    browser.get("/submit/")
    cookies = "; ".join(f"{name}={morsel.value}" for name, morsel in browser.cookies.items())
    csrf = browser.cookies["csrftoken"].value
    temp = tmp_path / "requests"
    temp.mkdir()
    (temp / "tmpkilled.upload.npz").write_bytes(b"x" * 100)  # left by a worker killed mid-upload
    (temp / "tmprecent.upload.npz").write_bytes(b"x" * 100)  # maybe another web process's live upload
    old = time.time() - 7 * 3600
    os.utime(temp / "tmpkilled.upload.npz", (old, old))
    url = urlsplit(live_stack.start_gunicorn(workers=1, REQUEST_BODY_STALL_TIMEOUT_S=str(STALL_TIMEOUT_S),
                                             FILE_UPLOAD_TEMP_DIR=str(temp), STALE_UPLOAD_AGE_S=str(6 * 3600)))
    assert sorted(p.name for p in temp.iterdir()) == ["tmprecent.upload.npz"]
    host, port = url.hostname, url.port
    sockets = [stalled_upload(host, port, cookies, csrf) for _ in range(SLOW_UPLOADS)]
    try:
        time.sleep(1)  # let the worker pick them up and block on their bodies
        for path in ("/", "/api/v1/benchmarks/", "/accounts/login/"):
            status, elapsed = timed_get(host, port, path)
            assert status == 200 and elapsed < 2, (path, status, elapsed)
        for sock in sockets:
            sock.settimeout(STALL_TIMEOUT_S + 6)
            assert sock.recv(64).startswith(b"HTTP/1.1 408"), "a stalled upload was not answered 408"
    finally:
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()
