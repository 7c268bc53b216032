"""Stored GT meshes (evaluator.gt_meshes): same numbers as without them, no GT forward once built,
and a new cache whenever the body model files or the GT change."""
from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from evaluator.body_model import load_body_model
from evaluator.demo import make_demo_benchmark
from evaluator.formats import load_sample_set
from evaluator.gt_meshes import GtMeshCache, attach_mesh_cache, cache_root, model_files_hash
from evaluator.protocols import get_protocol

SHARD = 16  # small shards, so chunks cross shard boundaries


@pytest.fixture
def demo(tmp_path):
    gt_path, pred_path = make_demo_benchmark(tmp_path, num_samples=40, seed=5)
    return gt_path, load_sample_set(gt_path, role="gt"), load_sample_set(pred_path)


def score(models, gt, pred, chunk_size=12):
    return get_protocol("smplx-generic").score(models, gt, pred, chunk_size=chunk_size)


def sums(result):
    return {split: (s.sums, s.counts) for split, s in result.items()}


def cached(body_model, gt, gt_path):
    return gt.with_mesh_cache(GtMeshCache(body_model, gt, gt_path, shard_size=SHARD))


def count_forwarded(monkeypatch, body_model) -> list[int]:
    batches: list[int] = []
    original = body_model.lean.vertices

    def counting(**params):
        batches.append(len(params["betas"]))
        return original(**params)

    monkeypatch.setattr(body_model.lean, "vertices", counting)
    return batches


def test_cached_scores_equal_uncached_bit_for_bit(body_model, demo):
    gt_path, gt, pred = demo
    plain = score(body_model, gt, pred)
    cold = score(body_model, cached(body_model, gt, gt_path), pred)  # builds the shards
    warm = score(body_model, cached(body_model, gt, gt_path), pred, chunk_size=7)  # reads them back
    assert sums(cold) == sums(plain) and sums(warm) == sums(plain)
    per_plain = get_protocol("smplx-generic").per_sample(body_model, gt, pred)
    per_cached = get_protocol("smplx-generic").per_sample(body_model, cached(body_model, gt, gt_path), pred)
    for key, values in per_plain.items():
        np.testing.assert_array_equal(per_cached[key], values)
    files = sorted(p.name for p in (cache_root(gt_path)).glob("*/shard-*.npy"))
    assert files == [f"shard-{i:06d}.npy" for i in range(3)]  # 40 samples / 16
    stored = np.load(cache_root(gt_path).glob("*/shard-000000.npy").__next__(), mmap_mode="r")
    assert stored.dtype == np.float32 and stored.shape == (SHARD, 3, 10475)  # coordinate-major


def test_a_warm_cache_runs_only_the_prediction_forward(body_model, demo, monkeypatch):
    gt_path, gt, pred = demo
    cache = GtMeshCache(body_model, gt, gt_path, shard_size=SHARD)
    cache.build_all()
    batches = count_forwarded(monkeypatch, body_model)
    score(body_model, gt.with_mesh_cache(cache), pred)
    assert sum(batches) == len(pred)
    batches.clear()
    score(body_model, gt, pred)
    assert sum(batches) == 2 * len(pred)  # without the cache the GT is meshed too


def test_changed_gt_gets_a_new_cache(body_model, demo, tmp_path):
    gt_path, gt, pred = demo
    first = GtMeshCache(body_model, gt, gt_path, shard_size=SHARD)
    first.build_all()
    with np.load(gt_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["betas"] = arrays["betas"] + 0.5
    np.savez(tmp_path / "new.npz", **arrays)
    os.replace(tmp_path / "new.npz", gt_path)  # as the importer does; ``gt`` keeps mapping the old file
    new_gt = load_sample_set(gt_path, role="gt")
    second = GtMeshCache(body_model, new_gt, gt_path, shard_size=SHARD)
    assert second.folder != first.folder and not first.folder.exists()
    assert sums(score(body_model, new_gt.with_mesh_cache(second), pred)) == sums(score(body_model, new_gt, pred))
    assert sums(score(body_model, new_gt, pred)) != sums(score(body_model, gt, pred))


def test_changed_model_files_get_a_new_cache(smplx_model_dir, body_model, demo, tmp_path):
    gt_path, gt, pred = demo
    first = attach_mesh_cache(body_model, gt, gt_path).mesh_cache
    first.build_all()
    other_dir = tmp_path / "model"
    shutil.copytree(smplx_model_dir, other_dir)
    npz_path = other_dir / "smplx" / "SMPLX_NEUTRAL.npz"
    with np.load(npz_path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["v_template"] = arrays["v_template"] * 1.01
    np.savez(npz_path, **arrays)
    assert model_files_hash(other_dir) != model_files_hash(smplx_model_dir)
    other_model = load_body_model(other_dir)
    second = attach_mesh_cache(other_model, gt, gt_path).mesh_cache
    assert second.folder != first.folder and not first.folder.exists()
    with_cache = score(other_model, gt.with_mesh_cache(second), pred)
    assert sums(with_cache) == sums(score(other_model, gt, pred))
    assert sums(with_cache) != sums(score(body_model, gt, pred))


def test_a_cache_of_another_model_is_ignored(smplx_model_dir, body_model, demo):
    """smplx_meshes uses a cache only for the very body model it was built with."""
    gt_path, gt, pred = demo
    import torch

    other = load_body_model(smplx_model_dir, dtype=torch.float64)
    gt_cached = cached(body_model, gt, gt_path)
    assert sums(score(other, gt_cached, pred)) == sums(score(other, gt, pred))


def test_vertex_gt_needs_no_cache(body_model, demo, tmp_path):
    gt_path, gt, _ = demo
    verts = body_model.vertices(gt.take(np.arange(len(gt)))).numpy()
    path = tmp_path / "gt_vertices.npz"
    np.savez(path, sample_ids=gt.sample_ids, splits=gt.splits, vertices=verts)
    vertex_gt = load_sample_set(path, role="gt")
    assert attach_mesh_cache(body_model, vertex_gt, path) is vertex_gt
    with pytest.raises(ValueError, match="params"):
        GtMeshCache(body_model, vertex_gt, path)


def test_rows_in_any_order_read_back_exactly(body_model, demo):
    """Runs of rows across shard boundaries, out of order, repeated and empty: the stored meshes come back
    as the forward computes them (positioned reads into the chunk's buffer, evaluator.gt_meshes._ShardFile)."""
    from evaluator.meshes import smplx_local_vertices

    gt_path, gt, _ = demo
    cache = GtMeshCache(body_model, gt, gt_path, shard_size=SHARD)
    index = np.array([14, 15, 16, 17, 3, 39, 38, 0, 0, 31, 32, 33])
    expected = smplx_local_vertices(body_model, gt, index)
    got = cache.local(index)
    assert got.shape == (len(index), 10475, 3) and got.transpose(1, 2).is_contiguous()
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert cache.local(np.array([], dtype=np.int64)).shape == (0, 10475, 3)
    with pytest.raises(IndexError):
        cache.local(np.array([len(gt)]))
