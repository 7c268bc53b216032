import io
import pickle

import numpy as np
import pytest

from evaluator.formats import FormatError, load_sample_set, match_samples

N = 4
IDS = np.array([f"img_{i}" for i in range(N)])


def params(n=N, dtype=np.float32):
    shapes = {"global_orient": (3,), "body_pose": (21, 3), "left_hand_pose": (15, 3), "right_hand_pose": (45,),
              "jaw_pose": (3,), "betas": (10,), "expression": (10,), "transl": (3,)}
    return {k: np.zeros((n, *s), dtype=dtype) for k, s in shapes.items()}


def write(tmp_path, name="f.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return path


def test_valid_params_gt_with_splits(tmp_path):
    s = load_sample_set(write(tmp_path, sample_ids=IDS, splits=np.array(["dev", "test", "dev", "test"]),
                              **params(dtype=np.float64)), role="gt")
    assert s.kind == "params" and len(s) == N and s.split_names == ["dev", "test"]
    taken = s.take(np.array([2, 0]))
    assert taken["body_pose"].shape == (2, 21, 3) and taken["right_hand_pose"].shape == (2, 15, 3)
    assert all(v.dtype == np.float32 for v in taken.values())
    assert len(s.subset(np.array([1, 3]))) == 2


def test_default_split_and_file_object(tmp_path):
    path = write(tmp_path, sample_ids=IDS, vertices=np.zeros((N, 10475, 3), np.float32))
    with open(path, "rb") as f:
        s = load_sample_set(f, name="upload.npz")
    assert s.kind == "vertices" and s.split_names == ["test"] and s.name == "upload.npz"


@pytest.mark.parametrize("arrays,message", [
    (dict(**params()), "missing key 'sample_ids'"),
    (dict(sample_ids=IDS, **{k: v for k, v in params().items() if k != "betas"}), r"missing keys \['betas'\]"),
    (dict(sample_ids=IDS, extra=np.zeros(N), **params()), r"unknown keys \['extra'\]"),
    (dict(sample_ids=IDS, splits=np.array(["a"] * N), **params()), r"unknown keys \['splits'\]"),  # preds: no splits
    (dict(sample_ids=IDS, vertices=np.zeros((N, 10475, 3)), **params()), "cannot be mixed"),
    (dict(sample_ids=IDS, **{**params(), "betas": np.zeros((N, 11))}), r"key 'betas': expected shape \(4, 10\), got \(4, 11\)"),
    (dict(sample_ids=IDS, **{**params(), "body_pose": np.zeros((N + 1, 63))}), r"key 'body_pose': expected shape \(4, 21, 3\) or \(4, 63\), got \(5, 63\)"),
    (dict(sample_ids=IDS, vertices=np.zeros((N, 6890, 3))), r"expected shape \(4, 10475, 3\), got \(4, 6890, 3\)"),
    (dict(sample_ids=IDS, **{**params(), "transl": np.zeros((N, 3), np.int64)}), "key 'transl': expected a floating-point array, got integer dtype int64"),
    (dict(sample_ids=IDS, **{**params(), "transl": np.full((N, 3), "x")}), "non-numeric dtype"),
    (dict(sample_ids=np.arange(N), **params()), "'sample_ids' must be a string array"),
    (dict(sample_ids=np.array(["a", "b", "a", "c"]), **params()), "duplicate sample ids: 'a'"),
    (dict(sample_ids=np.array(["a", " ", "b", "c"]), **params()), "entry 1 .* is empty"),
    (dict(sample_ids=np.array([], dtype=str), **params(0)), "no samples"),
])
def test_bad_inputs(tmp_path, arrays, message):
    with pytest.raises(FormatError, match=message) as exc:
        load_sample_set(write(tmp_path, "bad_preds.npz", **arrays))
    assert str(exc.value).startswith("bad_preds.npz: ")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_names_key_and_sample(tmp_path, value):
    p = params()
    p["jaw_pose"][2, 1] = value
    with pytest.raises(FormatError, match=r"key 'jaw_pose': NaN or inf for sample 'img_2' \(row 2\)"):
        load_sample_set(write(tmp_path, sample_ids=IDS, **p))


def test_not_a_zip_and_truncated(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"hello")
    with pytest.raises(FormatError, match="junk.npz: not an .npz file"):
        load_sample_set(junk)
    good = write(tmp_path, sample_ids=IDS, **params()).read_bytes()
    with pytest.raises(FormatError, match="upload"):
        load_sample_set(io.BytesIO(good[: len(good) // 2]), name="upload")
    with pytest.raises(FormatError, match="file not found"):
        load_sample_set(tmp_path / "nope.npz")


class _Trap:
    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (pathlib.Path(_Trap.target),))


def test_object_arrays_are_never_unpickled(tmp_path):
    _Trap.target = str(tmp_path / "pwned")
    payload = np.array([_Trap()], dtype=object)
    assert pickle.loads(pickle.dumps(payload[0])) is None and (tmp_path / "pwned").exists()  # the trap works
    (tmp_path / "pwned").unlink()
    for key in ("sample_ids", "betas", "evil"):
        arrays = {"sample_ids": IDS, **params()}
        arrays[key] = payload
        with pytest.raises(FormatError, match=f"key '{key}' holds a Python object array"):
            load_sample_set(write(tmp_path, **arrays))
    assert not (tmp_path / "pwned").exists()


def test_bytes_ids_are_decoded(tmp_path):
    s = load_sample_set(write(tmp_path, sample_ids=IDS.astype("S"), **params()))
    assert s.sample_ids.dtype.kind == "U" and s.sample_ids[0] == "img_0"


def test_match_samples(tmp_path):
    gt = load_sample_set(write(tmp_path, "gt.npz", sample_ids=IDS, **params()), role="gt")
    pred = load_sample_set(write(tmp_path, "p.npz", sample_ids=IDS[[2, 0, 3, 1]], **params()))
    index = match_samples(gt, pred)
    np.testing.assert_array_equal(pred.sample_ids[index], gt.sample_ids)
    many = np.array([f"x{i}" for i in range(10)])
    other = load_sample_set(write(tmp_path, "o.npz", sample_ids=np.r_[IDS[:1], many], **params(11)))
    with pytest.raises(FormatError) as exc:
        match_samples(gt, other)
    msg = str(exc.value)
    assert "missing predictions for sample ids 'img_1', 'img_2', 'img_3' (3 in total)" in msg
    assert "unknown sample ids 'x0', 'x1', 'x2', 'x3', 'x4', ... (10 in total)" in msg and msg.startswith("o.npz")


def _file_backed_rss_mb() -> float:
    """Resident file-backed memory of this process (Linux /proc/self/status RssFile), MB."""
    for line in open("/proc/self/status"):
        if line.startswith("RssFile:"):
            return int(line.split()[1]) / 1024
    pytest.skip("no RssFile in /proc/self/status")


def test_checking_and_reading_rows_keep_a_mapped_file_out_of_resident_memory(tmp_path):
    """A 63 MB vertex file is checked row block by row block and read a chunk at a time: its pages do not
    stay resident (a worker's memory stays bounded by its chunk, whatever the benchmark size)."""
    n = 500
    vertices = np.random.default_rng(0).normal(0, 0.3, (n, 10475, 3)).astype(np.float32)
    np.savez(tmp_path / "pred.npz", sample_ids=np.array([f"s{i}" for i in range(n)]), vertices=vertices)
    before = _file_backed_rss_mb()
    samples = load_sample_set(tmp_path / "pred.npz")
    assert _file_backed_rss_mb() - before < 16  # the checks read all 63 MB
    rows = np.arange(200, 264)
    assert np.array_equal(samples.take(rows)["vertices"], vertices[rows])
    assert _file_backed_rss_mb() - before < 16
