"""Direct uploads (pre-signed PUT) on the default filesystem backend: the API says clearly that it has none, the
`ehps` client then uploads as before, and nothing ever signs a URL outside ``incoming/``. The S3 path itself (URL,
PUT, the worker's check, a forged file refused) runs against a real store in
tests/integration/test_object_storage_hosts.py."""
from __future__ import annotations

import json

import httpx
import pytest

from ehps_client.api import ApiClient
from leaderboard.storage import DirectUploadUnavailable, presigned_put


def test_a_filesystem_server_says_it_offers_no_direct_upload(client_for, alice, bench):
    ask = {"filename": "pred.npz", "size": 1000, "sha256": "a" * 64, "benchmark": ["bench-a"]}
    response = client_for(alice).post("/api/v1/submissions/direct-upload/", ask, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["error"] == "direct_upload_unavailable"
    assert "EHPS_STORAGE=filesystem" in body["detail"] and "POST /api/v1/submissions/" in body["detail"]
    assert client_for().post("/api/v1/submissions/direct-upload/", ask, format="json").status_code in (401, 403)


def test_bad_direct_upload_requests_are_4xx_naming_the_field(client_for, alice, bench):
    client = client_for(alice)
    response = client.post("/api/v1/submissions/direct-upload/", {"filename": "p.npz", "size": 0, "sha256": "x"},
                           format="json")
    assert response.status_code == 400 and {"size", "benchmark"} <= set(response.json()["fields"])
    response = client.post("/api/v1/submissions/direct-upload/complete/", {"upload_id": "forged", "method_name": "m"},
                           format="json")
    assert response.status_code == 400 and "upload_id" in response.json()["detail"]


def test_urls_are_signed_for_new_incoming_names_only(settings):
    for name in ("gt/bench-a/gt.npz", "images/bench-a/0001.png", "uploads/0123/predictions/bench-a.npz",
                 "incoming/../gt/bench-a/gt.npz"):
        with pytest.raises(ValueError, match="incoming/"):
            presigned_put(name, 10, 60)
    with pytest.raises(DirectUploadUnavailable):  # the filesystem backend has nothing to sign
        presigned_put("incoming/abc/pred.npz", 10, 60)


def test_the_client_falls_back_to_a_normal_upload_when_the_server_has_no_store(tmp_path):
    seen: list[tuple[str, str]] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.path))
        if request.url.path.endswith("/direct-upload/"):
            assert json.loads(request.content)["size"] == 2048
            return httpx.Response(409, json={"error": "direct_upload_unavailable", "detail": "filesystem"})
        assert b'name="file"' in request.read()  # the multipart upload, file included
        return httpx.Response(201, json={"id": "s1", "benchmarks": ["bench-a"], "url": "/s1"})

    path = tmp_path / "pred.npz"
    path.write_bytes(b"\0" * 2048)
    with ApiClient("https://leaderboard.test", "t0ken", transport=httpx.MockTransport(server)) as client:
        assert client.submit(path, ["bench-a"], "m", direct_min_bytes=1024)["id"] == "s1"
        assert seen == [("POST", "/api/v1/submissions/direct-upload/"), ("POST", "/api/v1/submissions/")]
        seen.clear()
        client.submit(path, ["bench-a"], "m")  # under the default threshold: straight to the usual upload
        assert seen == [("POST", "/api/v1/submissions/")]
