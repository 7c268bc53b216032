"""The protocol interface (evaluator.protocols) on the generic SMPL-X recipe."""
from __future__ import annotations

import numpy as np
import pytest

import evaluator
from evaluator.demo import make_demo_benchmark
from evaluator.formats import load_sample_set
from evaluator.metrics import METRICS
from evaluator.protocols import EVALUATOR_VERSION, available_protocols, get_protocol, load_protocol_models
from evaluator.scoring import score_samples
from evaluator.metric_sums import MetricSums


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    gt_path, pred_path = make_demo_benchmark(tmp_path_factory.mktemp("demo"), num_samples=20, seed=5)
    return load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)


def test_registry_and_version():
    assert {"smplx-generic", "ehf", "agora-val"} <= set(available_protocols())
    assert EVALUATOR_VERSION == evaluator.__version__
    p = get_protocol("smplx-generic")
    assert p.metrics == METRICS and p.primary_metric == "mpvpe_all" and p.parts == {"body", "hands", "face"}
    assert p.describe()["name"] == "smplx-generic" and isinstance(p.version, str)
    assert get_protocol("ehf").metrics == METRICS and get_protocol("agora-val").name == "agora-val"


def test_unknown_name_or_option_is_a_clear_value_error():
    with pytest.raises(ValueError, match="unknown protocol 'nope'.*smplx-generic"):
        get_protocol("nope")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['colour'\]"):
        get_protocol("smplx-generic", {"colour": 1})
    with pytest.raises(ValueError, match="hand_joints=19"):
        get_protocol("smplx-generic", {"hand_joints": 19})
    with pytest.raises(ValueError, match="hand_outlier_mm"):
        get_protocol("smplx-generic", {"hand_outlier_mm": -3})


def test_smplest_x_variant_sets_its_options():
    p = get_protocol("smplx-generic", {"variant": "smplest-x"})
    assert p.options == {"variant": "smplest-x", "hand_joints": 20, "hand_mpjpe": True, "hand_validity": True,
                         "hand_outlier_mm": 100.0}
    assert p.metrics[-3:] == ("mpjpe_l_hand", "mpjpe_r_hand", "mpjpe_hand")
    assert get_protocol("smplx-generic", {"variant": "smplest-x", "hand_joints": 21}).options["hand_joints"] == 21


def test_score_samples_delegates_and_per_sample_agrees(smplx_model_dir, demo):
    gt, pred = demo
    models = load_protocol_models("smplx-generic", smplx_model_dir)
    protocol = get_protocol("smplx-generic")
    sums = protocol.score(models, gt, pred, chunk_size=7)
    assert sums == score_samples(models.smplx, gt, pred, chunk_size=7)
    rows = protocol.per_sample(models, gt, pred, chunk_size=6)
    assert list(rows["sample_id"]) == list(gt.sample_ids) and list(rows["split"]) == list(gt.splits)
    for split, s in sums.items():
        mask = rows["split"] == split
        assert s.num_samples == mask.sum()
        for key in METRICS:
            assert s.means()[key] == pytest.approx(rows[key][mask].mean(), abs=1e-5)


def test_metric_sums_leave_missing_values_out():
    s = MetricSums.empty(["a", "b"]).add({"a": np.array([1.0, 3.0, 5.0]), "b": np.array([np.nan, 2.0, np.nan])})
    assert s.counts == {"a": 3, "b": 1} and s.num_samples == 3
    assert s.means() == {"a": 3.0, "b": 2.0}
    empty = MetricSums.empty(["b"]).add({"b": np.array([np.nan])})
    assert empty.means() == {"b": None} and empty.num_samples == 1
    merged = s.merge(MetricSums.from_dict(s.to_dict()))
    assert merged.num_samples == 6 and merged.counts["b"] == 2
    old = MetricSums.from_dict({"sums": {"a": 2.0}, "counts": {"a": 2}})  # stored before 'samples' existed
    assert old.num_samples == 2
