"""``python -m evaluator score --per-sample`` / ``--protocol`` and ``python -m evaluator check``."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evaluator.demo import make_demo_benchmark
from evaluator.formats import load_sample_set
from evaluator.protocols import get_protocol, load_protocol_models

REPO_ROOT = Path(__file__).resolve().parents[2]


def _run(*args, cwd=REPO_ROOT):
    return subprocess.run([sys.executable, "-m", "evaluator", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return make_demo_benchmark(tmp_path_factory.mktemp("cli"), num_samples=12, seed=9)


def test_score_per_sample_file(smplx_model_dir, demo, tmp_path):
    out, report = tmp_path / "rows.npz", tmp_path / "report.json"
    proc = _run("score", "--gt", demo[0], "--pred", demo[1], "--model-dir", smplx_model_dir, "--quiet",
                "--per-sample", out, "--json", report, "--option", "variant=smplest-x")
    assert proc.returncode == 0, proc.stderr
    protocol = get_protocol("smplx-generic", {"variant": "smplest-x"})
    with np.load(out, allow_pickle=False) as z:
        assert set(z.files) == {"sample_ids", "splits", *protocol.metrics}
        gt = load_sample_set(demo[0], role="gt")
        assert list(z["sample_ids"]) == list(gt.sample_ids) and list(z["splits"]) == list(gt.splits)
        expected = protocol.per_sample(load_protocol_models(protocol, smplx_model_dir), gt, load_sample_set(demo[1]))
        for key in protocol.metrics:
            np.testing.assert_allclose(z[key], expected[key], atol=1e-5, equal_nan=True)
    data = json.loads(report.read_text())
    assert data["protocol"]["options"]["hand_joints"] == 20 and "MPJPE (hands)" in proc.stdout


def test_score_reports_bad_protocol_options(smplx_model_dir, demo):
    proc = _run("score", "--gt", demo[0], "--pred", demo[1], "--model-dir", smplx_model_dir, "--quiet",
                "--protocol", "3dpw", "--option", "joints=lsp")
    assert proc.returncode == 2 and "option joints='lsp' is invalid" in proc.stderr
    proc = _run("score", "--gt", demo[0], "--pred", demo[1], "--model-dir", smplx_model_dir, "--quiet",
                "--protocol", "3dpw")
    assert proc.returncode == 2 and "unknown keys" in proc.stderr  # SMPL-X GT is not the SMPL layout of 3DPW


def test_check_ids_shapes_and_nan(demo, tmp_path):
    ids = load_sample_set(demo[0], role="gt").sample_ids
    (tmp_path / "ids.txt").write_text("\n".join(ids) + "\n")
    ok = _run("check", demo[1], "--sample-ids", tmp_path / "ids.txt")
    assert ok.returncode == 0 and "12 samples as params, all 12 benchmark ids present" in ok.stdout
    (tmp_path / "ids.txt").write_text("\n".join([*ids[1:], "extra_id"]) + "\n")
    bad = _run("check", demo[1], "--sample-ids", tmp_path / "ids.txt")
    assert bad.returncode == 1 and "unknown sample ids" in bad.stderr and "missing predictions" in bad.stderr
    with np.load(demo[1]) as z:
        arrays = dict(z)
    arrays["betas"][3, 2] = np.nan
    np.savez(tmp_path / "nan.npz", **arrays)
    nan = _run("check", tmp_path / "nan.npz")
    assert nan.returncode == 1 and "NaN or inf" in nan.stderr
    # --benchmark SLUG reads SLUG-sample_ids.txt from the working folder (the page's download) when present
    (tmp_path / "demo-ehf-sample_ids.txt").write_text("\n".join(ids) + "\n")
    local = _run("check", demo[1], "--benchmark", "demo-ehf", cwd=tmp_path)
    assert local.returncode == 0, local.stderr
    offline = _run("check", demo[1], "--benchmark", "nope", "--server", "http://127.0.0.1:9", cwd=tmp_path)
    assert offline.returncode == 2 and "nope-sample_ids.txt" in offline.stderr
