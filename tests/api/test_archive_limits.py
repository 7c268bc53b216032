"""Issue 12, Medium 8: archive blow-ups in the web tier are refused before the archive is read.

npz keys are checked before any array is decompressed, zip member counts before the central directory is
parsed, tar member counts while streaming (the 42 MB tar was a 500 after a worker timeout, leaving its temp
upload behind).
"""
from __future__ import annotations

import io
import tarfile
import tracemalloc
import zipfile
from pathlib import Path
from unittest import mock

import numpy as np
import pytest
from django.conf import settings
from django.test import override_settings

from leaderboard.submissions.models import Submission
from tests.api.test_model_uploads import model_bench, post  # noqa: F401  (fixture)
from tests.archives import zip_bytes

CAP = 50


def npz_with_junk(preds: dict, junk_bytes: int) -> bytes:
    """Valid predictions plus a junk member that deflates to almost nothing (zeros)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for key, value in preds.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(value))
            archive.writestr(f"{key}.npy", member.getvalue())
        with archive.open("junk.npy", "w", force_zip64=True) as junk:
            np.lib.format.write_array_header_1_0(junk, {"descr": "|u1", "fortran_order": False, "shape": (junk_bytes,)})
            chunk = bytes(1 << 20)
            for _ in range(junk_bytes >> 20):
                junk.write(chunk)
    return buffer.getvalue()


def many_members_tar(count: int) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for i in range(count):
            archive.addfile(tarfile.TarInfo(f"layer-{i:06d}"), io.BytesIO(b""))
        info = tarfile.TarInfo("index.json")
        info.size = 2
        archive.addfile(info, io.BytesIO(b"{}"))
    return buffer.getvalue()


def temp_files() -> set[str]:
    temp = Path(settings.FILE_UPLOAD_TEMP_DIR)
    return {p.name for p in temp.iterdir()} if temp.exists() else set()


@pytest.fixture
def assert_nothing_stored(stored_uploads):
    """Checks that the test's request left no row, no stored or staged file and no temp upload."""
    before, temp_before = stored_uploads(), temp_files()

    def check() -> None:
        assert not Submission.objects.exists()
        assert stored_uploads() == before
        assert temp_files() == temp_before

    return check


def test_npz_with_a_junk_member_is_refused_before_any_array_is_loaded(bench, client_for, alice, assert_nothing_stored):
    junk_mib = 200
    data = npz_with_junk(bench[1], junk_mib << 20)
    assert len(data) < 2 << 20  # a ~1 MB upload that inflates to 200 MB
    upload = io.BytesIO(data)
    upload.name = "pred.npz"
    tracemalloc.start()
    try:
        response = client_for(alice).post("/api/v1/submissions/", {"file": upload, "kind": "predictions",
                                                                   "benchmark": bench[0].slug, "method_name": "m"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert "unknown keys ['junk']" in response.json()["detail"]
    assert peak < 50 << 20, f"peak {peak >> 20} MiB: the junk member was decompressed"
    assert_nothing_stored()


@override_settings(MAX_ARCHIVE_MEMBERS=CAP)
def test_zip_member_count_is_capped_before_the_directory_is_parsed(bench, client_for, alice, assert_nothing_stored):
    data = zip_bytes({f"m{i}.npy": b"" for i in range(CAP + 1)})
    upload = io.BytesIO(data)
    upload.name = "pred.zip"
    with mock.patch.object(zipfile.ZipFile, "_RealGetContents", side_effect=AssertionError("directory parsed")):
        response = client_for(alice).post("/api/v1/submissions/", {"file": upload, "kind": "predictions",
                                                                   "benchmark": bench[0].slug, "method_name": "m"})
    assert response.status_code == 400
    assert f"{CAP + 1} members" in response.json()["detail"] and f"limit is {CAP}" in response.json()["detail"]
    assert_nothing_stored()


@override_settings(MAX_ARCHIVE_MEMBERS=CAP)
def test_tar_member_count_is_capped_while_streaming(model_bench, client_for, alice, assert_nothing_stored):  # noqa: F811
    headers_read = []
    real_next = tarfile.TarFile.next

    def counting_next(self):
        headers_read.append(1)
        return real_next(self)

    with mock.patch.object(tarfile.TarFile, "next", counting_next):
        response = post(client_for(alice), many_members_tar(20 * CAP), "container", "image.tar")
    assert response.status_code == 400
    assert f"more than {CAP} members" in response.json()["detail"]
    assert len(headers_read) < 2 * CAP  # format probes plus the capped walk, not all 1000 members
    assert_nothing_stored()


@pytest.mark.slow
def test_the_42_mb_tar_is_a_quick_400_leaving_no_temp_file(model_bench, client_for, alice, assert_nothing_stored):  # noqa: F811
    """82 k empty members: 42 MB of tar headers, the size that ended in a worker timeout and a 500."""
    data = many_members_tar(82_100)
    assert len(data) > 42_000_000
    response = post(client_for(alice), data, "container", "image.tar")
    assert response.status_code == 400
    assert f"more than {settings.MAX_ARCHIVE_MEMBERS} members" in response.json()["detail"]
    assert_nothing_stored()
