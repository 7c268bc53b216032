import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluator.demo import make_demo_benchmark
from evaluator.formats import FormatError, load_sample_set
from evaluator.metrics import METRICS, MetricSums
from evaluator.mpe import hand_mean_primary_error, mean_primary_error
from evaluator.scoring import score_samples

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    gt_path, pred_path = make_demo_benchmark(tmp_path_factory.mktemp("demo"), num_samples=40, seed=3)
    return gt_path, pred_path, load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)


@pytest.fixture(scope="module")
def whole(body_model, demo):
    return score_samples(body_model, demo[2], demo[3], chunk_size=16)


def test_splits_and_plausible_values(whole):
    assert set(whole) == {"dev", "test"}
    assert sum(s.num_samples for s in whole.values()) == 40
    means = MetricSums.merge_all(whole.values()).means()
    assert 5 < means["pa_mpvpe_hand"] < means["mpvpe_hand"] < means["mpvpe_all"] < 500


def _close(a: dict[str, MetricSums], b: dict[str, MetricSums], tol: float = 1e-5) -> None:
    assert a.keys() == b.keys()
    for split in a:
        assert a[split].counts == b[split].counts
        for key in METRICS:
            assert a[split].means()[key] == pytest.approx(b[split].means()[key], abs=tol)


def test_chunk_size_invariance(body_model, demo, whole):
    _close(score_samples(body_model, demo[2], demo[3], chunk_size=7), whole)
    _close(score_samples(body_model, demo[2], demo[3], chunk_size=64), whole)


def test_shard_invariance(body_model, demo, whole):
    gt, pred = demo[2], demo[3]
    shards = np.array_split(np.random.default_rng(0).permutation(len(gt)), 3)
    results = [score_samples(body_model, gt, pred, gt_index=s, chunk_size=16) for s in shards]
    merged = {split: MetricSums.merge_all(r[split] for r in results if split in r) for split in whole}
    _close(merged, whole)


def test_vertices_input_matches_params(body_model, demo, whole, tmp_path):
    gt, pred = demo[2], demo[3]
    verts = body_model.vertices(pred.take(np.arange(len(pred)))).numpy()
    path = tmp_path / "pred_vertices.npz"
    np.savez(path, sample_ids=pred.sample_ids, vertices=verts)
    # params keep transl apart in float64; a float32 mesh 2-8 m away carries ~0.5 um of rounding
    _close(score_samples(body_model, gt, load_sample_set(path), chunk_size=16), whole, tol=1e-4)


def test_progress_and_explicit_index(body_model, demo):
    gt, pred = demo[2], demo[3]
    calls = []
    score_samples(body_model, gt, pred, gt_index=np.arange(10), chunk_size=4, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(4, 10), (8, 10), (10, 10)]
    with pytest.raises(ValueError, match="shape"):
        score_samples(body_model, gt, pred, gt_index=np.arange(3), pred_index=np.arange(2))


def test_missing_predictions_raise(body_model, demo, tmp_path):
    gt, pred = demo[2], demo[3]
    path = tmp_path / "partial.npz"
    keep = np.arange(len(pred) - 2)
    np.savez(path, sample_ids=pred.sample_ids[keep], **pred.take(keep))
    with pytest.raises(FormatError, match=r"missing predictions .*\(2 in total\)"):
        score_samples(body_model, gt, load_sample_set(path))


def test_mpe():
    assert mean_primary_error({"a": 10.0, "b": 20.0, "c": 60.0}) == pytest.approx(30.0)
    assert mean_primary_error({"a": 10.0, "b": None}) is None
    assert mean_primary_error({}) is None
    assert hand_mean_primary_error({"a": 30.0, "b": 40.0}) == pytest.approx(35.0)


def test_cli_score_writes_json(smplx_model_dir, demo, whole, tmp_path):
    out = tmp_path / "scores.json"
    proc = subprocess.run([sys.executable, "-m", "evaluator", "score", "--gt", str(demo[0]), "--pred", str(demo[1]),
                           "--model-dir", str(smplx_model_dir), "--json", str(out), "--chunk-size", "16"],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert "PA-PVE (hands)" in proc.stdout
    report = json.loads(out.read_text())
    assert set(report["splits"]) == {"dev", "test", "all"}
    for split in ("dev", "test"):
        assert MetricSums.from_dict(report["splits"][split]) == whole[split]
        assert report["splits"][split]["means"] == whole[split].means()


def test_cli_reports_format_errors(smplx_model_dir, demo, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    proc = subprocess.run([sys.executable, "-m", "evaluator", "score", "--gt", str(demo[0]), "--pred", str(bad),
                           "--model-dir", str(smplx_model_dir), "--quiet"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 2 and "bad.npz: not an .npz file" in proc.stderr


def test_cli_make_demo_benchmark(tmp_path):
    subprocess.run([sys.executable, "-m", "evaluator", "make-demo-benchmark", "--out", str(tmp_path), "--samples", "5",
                    "--seed", "1"], cwd=REPO_ROOT, check=True, capture_output=True)
    gt = load_sample_set(tmp_path / "gt.npz", role="gt")
    assert len(gt) == 5 and set(gt.split_names) <= {"dev", "test"}
    z = gt.take(np.arange(5))["transl"][:, 2]
    assert ((z >= 2) & (z <= 8)).all()
