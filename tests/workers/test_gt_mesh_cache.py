"""Workers score against the GT meshes stored next to the GT (evaluator.gt_meshes), same numbers as without."""
from __future__ import annotations

from django.test import override_settings

from evaluator.demo import make_demo_benchmark
from evaluator.gt_meshes import cache_root
from evaluator.protocols import get_protocol
from workers import evaluation


def test_score_range_builds_and_reuses_stored_gt_meshes(tmp_path):
    gt_path, pred_path = make_demo_benchmark(tmp_path, num_samples=30, seed=8)
    protocol = get_protocol("smplx-generic")
    evaluation.clear_caches()
    with override_settings(EVAL_GT_MESH_CACHE=False):
        plain = evaluation.score_range(protocol, gt_path, pred_path, 3, 27, 8).sums
    assert not cache_root(gt_path).exists()
    evaluation.clear_caches()
    cold = evaluation.score_range(protocol, gt_path, pred_path, 3, 27, 8).sums
    shards = list(cache_root(gt_path).glob("*/shard-*.npy"))
    assert len(shards) == 1  # rows 3..26 all lie in the first 512-sample shard
    evaluation.clear_caches()  # a fresh process: reads the stored shard back
    warm = evaluation.score_range(protocol, gt_path, pred_path, 3, 27, 5).sums
    for result in (cold, warm):
        assert {k: (v.sums, v.counts) for k, v in result.items()} == {k: (v.sums, v.counts) for k, v in plain.items()}
    assert evaluation.gt_with_meshes(gt_path).mesh_cache is not None
