"""Every malformed upload is a 4xx naming the problem, with no Submission row and no file left behind."""
import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings

from leaderboard.submissions.models import Submission
from tests.archives import zip_bytes


def _npz(arrays: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _lying_zip(name: str, data: bytes, declared: int) -> bytes:
    """A zip whose central directory understates a member's uncompressed size (a classic bomb trick)."""
    raw = bytearray(zip_bytes({name: data}, zipfile.ZIP_DEFLATED))
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24: central + 28] = struct.pack("<I", declared)
    local = raw.find(b"PK\x03\x04")
    raw[local + 22: local + 26] = struct.pack("<I", declared)
    return bytes(raw)


def _object_npy_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, sample_ids=np.array(["a", "b"], dtype=object))  # pickled inside; must never be loaded
    return buffer.getvalue()


def _huge_header_npz() -> bytes:
    """An .npz whose .npy header claims 10^12 floats while holding a few bytes."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    return zip_bytes({"betas.npy": header.getvalue() + b"\0" * 16})


def modify(preds: dict, **changes) -> dict:
    out = dict(preds)
    for key, value in changes.items():
        if value is None:
            out.pop(key)
        else:
            out[key] = value(out[key]) if callable(value) else value
    return out


def with_nan(key, value=np.nan):
    def change(arr):
        arr = arr.copy()
        arr[3].flat[0] = value
        return arr
    return change


CASES = {
    "unknown key": (lambda p: _npz(modify(p, foo=np.zeros(3))), {}, "unknown keys ['foo']"),
    "missing key": (lambda p: _npz(modify(p, betas=None)), {}, "missing keys ['betas']"),
    "wrong shape": (lambda p: _npz(modify(p, body_pose=lambda a: a[:, :20])), {}, "key 'body_pose': expected shape"),
    "nan": (lambda p: _npz(modify(p, transl=with_nan("transl"))), {}, "key 'transl': NaN or inf for sample"),
    "inf": (lambda p: _npz(modify(p, betas=with_nan("betas", np.inf))), {}, "key 'betas': NaN or inf"),
    "wrong dtype": (lambda p: _npz(modify(p, betas=lambda a: a.astype(np.int32))), {}, "key 'betas': expected a floating-point array"),
    "missing sample": (lambda p: _npz({k: v[1:] for k, v in p.items()}), {}, "missing predictions for sample ids"),
    "duplicate sample": (lambda p: _npz(modify(p, sample_ids=lambda a: np.r_[a[:-1], a[:1]])), {}, "duplicate sample ids"),
    "unknown sample": (lambda p: _npz(modify(p, sample_ids=lambda a: np.r_[a[:-1], ["intruder"]])), {}, "unknown sample ids 'intruder'"),
    "not an npz": (lambda p: b"hello, this is text", {}, "not an .npz or .zip file"),
    "empty file": (lambda p: b"", {}, "file: The submitted file is empty."),
    "object array": (lambda p: _object_npy_npz(), {}, "key 'sample_ids' is an object array"),
    "npz header bomb": (lambda p: _huge_header_npz(), {}, "declares shape (1000000000000,)"),
    "zip unexpected member": (lambda p: zip_bytes({"bench-a.npz": _npz(p), "notes.txt": b"hi"}), {"benchmark": []}, "unexpected member 'notes.txt'"),
    "zip directory": (lambda p: zip_bytes({"preds/": b"", "preds/bench-a.npz": _npz(p)}), {"benchmark": []}, "unexpected member 'preds/'"),
    "zip path traversal": (lambda p: zip_bytes({"../bench-a.npz": _npz(p)}), {"benchmark": []}, "unexpected member '../bench-a.npz'"),
    "zip unknown benchmark": (lambda p: zip_bytes({"other.npz": _npz(p)}), {"benchmark": []}, "'other.npz' does not name an active benchmark"),
    "zip duplicate member": (lambda p: zip_bytes({"bench-a.npz": _npz(p)}) , {"benchmark": ["bench-a", "bench-a"]}, None),
    "zip bad member content": (lambda p: zip_bytes({"bench-a.npz": _npz(modify(p, betas=None))}), {"benchmark": []}, "bench-a.npz: missing keys ['betas']"),
    "zip lying sizes": (lambda p: _lying_zip("bench-a.npz", b"\0" * 200_000, 10), {"benchmark": []}, "corrupt"),
    "npz without benchmark": (lambda p: _npz(p), {"benchmark": []}, "choose exactly one benchmark"),
    "unknown benchmark": (lambda p: _npz(p), {"benchmark": ["nope"]}, "Unknown or inactive benchmark(s): nope"),
    "model for predictions-only benchmark": (lambda p: zip_bytes({"manifest.json": b"{}"}), {"kind": "model_archive"}, "accept predictions files only"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_upload_is_a_clear_4xx_and_stores_nothing(case, client_for, alice, bench, tmp_path, started, stored_uploads):
    make, fields, message = CASES[case]
    before = stored_uploads()
    path = tmp_path / "upload.bin"
    path.write_bytes(make(bench[1]))
    with open(path, "rb") as f:
        data = {"file": f, "method_name": "m", "benchmark": ["bench-a"], **fields}
        response = client_for(alice).post("/api/v1/submissions/", data, format="multipart")
    if message is None:  # benign duplicate of a form field: accepted once
        assert response.status_code == 201
        return
    assert 400 <= response.status_code < 500, response.content
    assert message in response.json()["detail"], response.json()
    assert not Submission.objects.exists()
    assert stored_uploads() == before
    started.assert_not_called()


@override_settings(MAX_UNCOMPRESSED_BYTES=100_000)
def test_zip_bomb_refused_before_extraction(client_for, alice, bench, tmp_path, stored_uploads):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bytes({"bench-a.npz": b"\0" * 5_000_000}, zipfile.ZIP_DEFLATED))
    assert bomb.stat().st_size < 50_000
    with open(bomb, "rb") as f:
        response = client_for(alice).post("/api/v1/submissions/", {"file": f, "method_name": "m"}, format="multipart")
    assert response.status_code == 400 and "over the limit" in response.json()["detail"]
    assert not Submission.objects.exists() and not any(p.startswith("tmp/") and p.count("/") > 1 for p in stored_uploads())


@override_settings(MAX_UPLOAD_BYTES=1000)
def test_oversized_upload_is_413(client_for, alice, pred_file):
    with open(pred_file, "rb") as f:
        response = client_for(alice).post("/api/v1/submissions/", {"file": f, "method_name": "m", "benchmark": "bench-a"}, format="multipart")
    assert response.status_code == 413 and "the limit is 1000 bytes" in response.json()["detail"]
    assert not Submission.objects.exists()


def test_missing_method_name_is_400(client_for, alice, pred_file):
    with open(pred_file, "rb") as f:
        response = client_for(alice).post("/api/v1/submissions/", {"file": f, "benchmark": "bench-a"}, format="multipart")
    assert response.status_code == 400 and "method_name: This field is required." in response.json()["detail"]
