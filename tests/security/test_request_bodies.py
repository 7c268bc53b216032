"""Issue 12, High 3: request bodies are refused from their headers, before anything (CSRF included) reads them.

Each request carries a body stream that counts what is read from it: a refused body must be read 0 bytes, and
nothing may land in the upload temp folder.
"""
from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import TemporaryUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from leaderboard.submissions.uploads import UploadError
from tests.security.conftest import World, npz_upload

GIB = 1024**3
BOUNDARY = "ehps-boundary"


class CountingBody(io.RawIOBase):
    """A multipart body of ``size`` bytes that is never materialised; records how much was read."""

    def __init__(self, size: int) -> None:
        self.size, self.read_bytes = size, 0
        self.head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"p.npz\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n").encode()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        n = min(len(buffer), self.size - self.read_bytes)
        start = self.read_bytes
        for i in range(n):  # only ever reached when the guard failed; keep it simple
            buffer[i] = self.head[start + i] if start + i < len(self.head) else 0
        self.read_bytes += n
        return n


def post_body(client: Client, path: str, size: int, **headers) -> tuple[object, CountingBody]:
    body = CountingBody(size)
    response = client.generic(
        "POST", path, b"", CONTENT_TYPE=f"multipart/form-data; boundary={BOUNDARY}", CONTENT_LENGTH=str(size),
        **{"wsgi.input": body}, **headers,
    )
    return response, body


def temp_folder_listing() -> list[str]:
    folder = Path(settings.FILE_UPLOAD_TEMP_DIR)
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def csrf_client() -> Client:
    client = Client(enforce_csrf_checks=True)
    client.get("/accounts/login/")  # the csrftoken cookie, all the attacker needed
    assert "csrftoken" in client.cookies
    return client


def test_anonymous_upload_with_only_a_csrf_cookie_is_refused_unread(world: World):
    client = csrf_client()
    response, body = post_body(client, "/submit/", 3 * GIB,
                               HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert body.read_bytes == 0
    assert temp_folder_listing() == []


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Token not-a-real-token"}], ids=["no-auth", "bad-token"])
def test_anonymous_api_upload_is_a_json_401_unread(world: World, headers):
    response, body = post_body(Client(), "/api/v1/submissions/", 3 * GIB, **headers)
    assert response.status_code == 401
    assert response.json()["error"] == "not_authenticated"
    assert body.read_bytes == 0


def test_anonymous_bodies_elsewhere_are_capped_unread(world: World):
    """The log-in form is anonymous by nature; a large body there is a 413, not a parse."""
    response, body = post_body(csrf_client(), "/accounts/login/", settings.MAX_ANONYMOUS_BODY_BYTES + 1)
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_logged_in_oversized_upload_is_413_unread(world: World):
    size = settings.MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    response, body = post_body(world.client("other"), "/submit/", size)
    assert response.status_code == 413
    assert body.read_bytes == 0
    key = Token.objects.create(user=world.users["other"]).key
    response, body = post_body(Client(), "/api/v1/submissions/", size, HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 413 and response.json()["error"] == "request_too_large"
    assert "limit" in response.json()["detail"]
    assert body.read_bytes == 0


def test_logged_in_large_body_to_an_ordinary_view_is_413_unread(world: World):
    """Only upload views take upload-sized bodies; publishing a submission does not."""
    url = f"/submissions/{world.submission.uuid}/publish"
    response, body = post_body(world.client("owner"), url, settings.MAX_FORM_BODY_BYTES + 1)
    assert response.status_code == 413
    assert body.read_bytes == 0


def test_large_uploads_wait_in_our_temp_folder(world: World, settings, monkeypatch):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 1024
    seen = {}

    def capture(uploaded_file, kind, slugs):
        seen["type"] = type(uploaded_file)
        seen["path"] = Path(uploaded_file.temporary_file_path())
        raise UploadError("stop here")

    monkeypatch.setattr("leaderboard.submissions.actions.stage_upload", capture)
    upload = npz_upload({"sample_ids": __import__("numpy").array([f"id-{i:05d}" for i in range(500)])})
    response = world.client("other").post("/submit/", {"kind": "predictions", "benchmarks": world.benchmark.slug,
                                                       "method_name": "x", "file": upload})
    assert response.status_code == 400
    assert seen["type"] is TemporaryUploadedFile
    assert seen["path"].parent == Path(settings.FILE_UPLOAD_TEMP_DIR)
    assert not seen["path"].exists()  # removed when the request ended


def test_sweeper_removes_uploads_that_killed_requests_left(db, settings):
    from workers.tasks import sweep_stuck_submissions

    temp = Path(settings.FILE_UPLOAD_TEMP_DIR)
    staging_root = Path(settings.PRIVATE_STORAGE_ROOT) / "tmp"
    temp.mkdir(parents=True, exist_ok=True)
    (staging_root / "upload-dead-1").mkdir(parents=True)
    (staging_root / "upload-dead-1" / "original.upload").write_bytes(b"x" * 10)
    (staging_root / "upload-live-2").mkdir()
    (temp / "tmpdead.upload.npz").write_bytes(b"x" * 10)
    (temp / "tmplive.upload.npz").write_bytes(b"x" * 10)
    old = time.time() - settings.STALE_UPLOAD_AGE_S - 60
    for path in (staging_root / "upload-dead-1" / "original.upload", staging_root / "upload-dead-1",
                 temp / "tmpdead.upload.npz"):
        os.utime(path, (old, old))
    report = sweep_stuck_submissions.apply().get()
    assert report["stale_uploads"] == 2
    assert sorted(p.name for p in temp.iterdir()) == ["tmplive.upload.npz"]
    assert not (staging_root / "upload-dead-1").exists() and (staging_root / "upload-live-2").exists()
    (staging_root / "upload-live-2").rmdir()
    (temp / "tmplive.upload.npz").unlink()
