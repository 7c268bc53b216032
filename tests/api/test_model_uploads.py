import io
import tarfile
import zipfile

import pytest

from leaderboard.storage import private_path
from leaderboard.submissions.models import Submission
from tests.archives import zip_bytes


@pytest.fixture
def model_bench(bench):
    benchmark = bench[0]
    benchmark.images_path = "images/bench-a"  # accepts models
    benchmark.save()
    return benchmark


def _tar(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def post(client, data: bytes, kind: str, name: str):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post("/api/v1/submissions/", {"file": upload, "kind": kind, "benchmark": "bench-a", "method_name": "m"}, format="multipart")


@pytest.mark.parametrize(
    "kind, name, data, stored",
    [
        ("model_archive", "model.zip", zip_bytes({"manifest.json": b"{}", "model.pt": b"x"}), "model-archive.zip"),
        ("container", "image.tar", _tar({"index.json": b"{}", "oci-layout": b"{}"}), "model-image.tar"),
    ],
)
def test_model_uploads_are_stored_for_the_runner(client_for, alice, model_bench, started, kind, name, data, stored):
    response = post(client_for(alice), data, kind, name)
    assert response.status_code == 201, response.content
    submission = Submission.objects.get()
    assert submission.kind == kind and submission.upload.name.endswith(stored)
    assert private_path(submission.upload.name).read_bytes() == data


@pytest.mark.parametrize(
    "kind, data, message",
    [
        ("model_archive", zip_bytes({"model.pt": b"x"}), "no top-level manifest.json"),
        ("model_archive", zip_bytes({"manifest.json": b"{}", "../evil.pt": b"x"}), "points outside the archive"),
        ("model_archive", b"plain text", "not a model archive"),
        ("container", b"plain text", "not a container image archive"),
        ("container", _tar({"random.txt": b"x"}), "neither index.json"),
    ],
)
def test_bad_model_uploads(client_for, alice, model_bench, stored_uploads, kind, data, message):
    before = stored_uploads()
    response = post(client_for(alice), data, kind, "model.bin")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not Submission.objects.exists() and stored_uploads() == before
