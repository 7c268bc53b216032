"""Property-based tests: whatever bytes or npz/zip contents arrive, the parsers answer with a clean error.

evaluator.formats raises FormatError, leaderboard.submissions.uploads raises UploadError; never another exception,
and nothing is ever unpickled (pickle.load/loads are booby-trapped for the whole module).
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from evaluator.body_model import PARAM_SIZES
from evaluator.formats import FormatError, load_sample_set
from leaderboard.submissions.uploads import UploadError, check_npz_structure, extract_bundle, stage_upload
from tests.archives import zip_bytes

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                             HealthCheck.too_slow])
KEYS = ["sample_ids", "splits", "vertices", *PARAM_SIZES]


class Unpickled(BaseException):
    """BaseException so no ``except Exception`` in the code under test can swallow it."""


@pytest.fixture(autouse=True)
def no_unpickling(monkeypatch):
    def refuse(*_args, **_kwargs):
        raise Unpickled("a parser tried to unpickle user data")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


# --- strategies ---------------------------------------------------------------------------------------------

dtypes = st.one_of(
    hnp.floating_dtypes(), hnp.integer_dtypes(), hnp.boolean_dtypes(), hnp.unicode_string_dtypes(),
    hnp.byte_string_dtypes(), hnp.complex_number_dtypes(),
)
plain_arrays = dtypes.flatmap(
    lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=6))
)
object_arrays = st.lists(st.one_of(st.integers(), st.text(max_size=3), st.none()), max_size=4).map(
    lambda items: np.array(items + [None], dtype=object)
)
float_rows = st.integers(1, 5).flatmap(
    lambda n: st.tuples(
        st.just(n),
        st.dictionaries(st.sampled_from(sorted(PARAM_SIZES)), hnp.arrays(
            np.float32, st.sampled_from([(n, 3), (n, 10), (n, 21, 3), (n, 63), (n, 15, 3), (n, 45), (n + 1, 3), (n,)]),
            elements=st.floats(allow_nan=True, allow_infinity=True, width=32))),
    )
)
key_names = st.one_of(st.sampled_from(KEYS), st.text(st.characters(codec="utf-8", exclude_characters="/\x00"), min_size=1, max_size=12))


@st.composite
def npz_contents(draw) -> dict[str, np.ndarray]:
    """Mostly plausible prediction files with random defects: wrong keys, shapes, dtypes, NaN, object arrays."""
    n, params = draw(float_rows)
    arrays: dict[str, np.ndarray] = dict(params)
    if draw(st.booleans()):
        ids = draw(st.lists(st.text(max_size=4), min_size=n, max_size=n))
        arrays["sample_ids"] = np.array(ids) if ids else np.array([], dtype="U1")
    for _ in range(draw(st.integers(0, 3))):
        arrays[draw(key_names)] = draw(st.one_of(plain_arrays, object_arrays))
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # allow_pickle: object arrays are written pickled, as an attacker would
    return buffer.getvalue()


# --- evaluator.formats -------------------------------------------------------------------------------------

@PROPERTY
@given(data=st.binary(max_size=2048))
def test_arbitrary_bytes_are_a_format_error(data):
    with pytest.raises(FormatError):
        load_sample_set(io.BytesIO(data), name="upload.npz")


@PROPERTY
@given(noise=st.binary(min_size=1, max_size=400), position=st.integers(0, 400))
def test_a_corrupted_valid_file_loads_or_is_a_format_error(noise, position, tmp_path_factory):
    valid = npz_bytes({"sample_ids": np.array(["a", "b"]), **{k: np.zeros((2, n), np.float32) for k, n in PARAM_SIZES.items()}})
    position = position % len(valid)
    corrupted = valid[:position] + noise + valid[position + len(noise):]
    path = tmp_path_factory.mktemp("c") / "pred.npz"
    path.write_bytes(corrupted)
    try:
        loaded = load_sample_set(path, role="pred")
    except FormatError as exc:
        assert "pred.npz" in str(exc)
    else:
        assert len(loaded) == 2


def test_a_garbled_npy_header_is_a_format_error(tmp_path):
    """Regression (found by the property above): numpy's header fallback raised tokenize.TokenError."""
    arrays = {"sample_ids": np.array(["a", "b"]), **{k: np.zeros((2, n), np.float32) for k, n in PARAM_SIZES.items()}}
    valid = npz_bytes(arrays)
    path = tmp_path / "pred.npz"
    path.write_bytes(valid[:121] + b"[" + valid[122:])
    with pytest.raises(FormatError, match="pred.npz"):
        load_sample_set(path, role="pred")


@PROPERTY
@given(arrays=npz_contents(), role=st.sampled_from(["gt", "pred"]))
def test_arbitrary_npz_contents_load_or_raise_a_format_error_naming_the_file(arrays, role, tmp_path_factory):
    path = tmp_path_factory.mktemp("npz") / "pred.npz"
    path.write_bytes(npz_bytes(arrays))
    try:
        loaded = load_sample_set(path, role=role)
    except FormatError as exc:
        assert str(exc).startswith("pred.npz: ")
        return
    # Accepted: it must then really be a clean sample set.
    assert all(np.isfinite(np.asarray(a)).all() and np.asarray(a).dtype.kind == "f" for a in loaded.arrays.values())
    assert len(set(loaded.sample_ids.tolist())) == len(loaded)


# --- leaderboard.submissions.uploads -----------------------------------------------------------------------

@PROPERTY
@given(arrays=npz_contents())
def test_npz_structure_check_refuses_object_arrays_and_only_raises_upload_errors(arrays, tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "pred.npz"
    path.write_bytes(npz_bytes(arrays))
    has_objects = any(np.asarray(a).dtype.hasobject for a in arrays.values())
    if has_objects:
        with pytest.raises(UploadError, match="object array"):
            check_npz_structure(path, "pred.npz")
    else:
        try:
            check_npz_structure(path, "pred.npz")
        except UploadError as exc:
            assert "pred.npz" in str(exc)


member_names = st.one_of(
    st.sampled_from(["bench-a.npz", "../bench-a.npz", "/etc/passwd", "a/b.npz", "bench-a.npz/", "..\\x.npz",
                     "BENCH-A.npz", "bench-a.NPZ", ".npz", "bench-a.npz\x00.txt"]),
    st.text(st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=20),
)


@PROPERTY
@given(members=st.dictionaries(member_names, st.binary(max_size=64), min_size=1, max_size=4))
def test_zip_member_names_never_escape_the_destination(members, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle")
    source, destination = root / "upload.zip", root / "out"
    destination.mkdir()
    source.write_bytes(zip_bytes(members))
    try:
        benchmarks = extract_bundle(source, destination, "upload.zip", {"bench-a": object()})
    except UploadError:
        benchmarks = None
    written = {p.relative_to(root).as_posix() for p in root.rglob("*")} - {"upload.zip", "out"}
    assert written <= {"out/bench-a.npz"}
    if benchmarks is not None:  # zipfile itself cuts a name at NUL, so compare with what it reads back
        assert zipfile.ZipFile(source).namelist() == ["bench-a.npz"]


@pytest.mark.django_db
@PROPERTY
@given(data=st.one_of(
    st.binary(min_size=1, max_size=1024),
    npz_contents().map(npz_bytes),
    st.dictionaries(member_names, st.one_of(st.binary(max_size=64), npz_contents().map(npz_bytes)), min_size=1, max_size=3).map(zip_bytes),
), kind=st.sampled_from(["predictions", "container", "model_archive"]))
def test_any_upload_is_staged_or_refused_with_an_upload_error(data, kind, upload_benchmark):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assume(kind == "predictions" or data[:2] == b"PK" or len(data) > 600)
    upload = SimpleUploadedFile("upload.bin", data)
    try:
        staged = stage_upload(upload, kind, [upload_benchmark.slug])
    except UploadError:
        return
    staged.discard()


@pytest.fixture
def upload_benchmark(db):
    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.benchmarks.testing import make_benchmark

    benchmark, _ = make_benchmark("bench-a", num_samples=4, seed=3)
    Benchmark.objects.filter(pk=benchmark.pk).update(images_path="images/bench-a")  # accepts model uploads too
    benchmark.refresh_from_db()
    return benchmark


def test_staging_leaves_nothing_behind_after_refusals(settings, db, upload_benchmark):
    """After the property runs above, refused uploads must not pile up in the private tmp folder."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    for data in (b"junk", zip_bytes({"../x.npz": b"1"}), npz_bytes({"sample_ids": np.array([1, 2], dtype=object)})):
        with pytest.raises(UploadError):
            stage_upload(SimpleUploadedFile("u.npz", data), "predictions", ["bench-a"])
    tmp = Path(settings.PRIVATE_STORAGE_ROOT) / "tmp"
    assert not tmp.exists() or not any(tmp.iterdir())
