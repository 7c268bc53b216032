"""Whole-image inference: the detector finds people without boxes, the crop regressor writes a multi-person npz
that the agora-multiperson protocol scores (figures printed: the demo reports them as they are)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from evaluator.multiperson_images import make_multiperson_image_benchmark
from evaluator.protocols import get_protocol
from reference_models.body import SMPLXJoints
from reference_models.detector import detect
from reference_models.evaluate import BenchmarkTarget, run_model, score_predictions
from reference_models.multiperson import TemplateRegressor


@pytest.fixture(scope="module")
def benchmark(tmp_path_factory, smplx_model_dir):
    return make_multiperson_image_benchmark(tmp_path_factory.mktemp("mp_infer"), smplx_model_dir, 8, seed=7)


def test_detector_boxes_cover_lone_people(benchmark):
    """An image with one person: one detection, inside the person's joint box grown by a quarter."""
    from PIL import Image

    with np.load(benchmark.gt_path) as gt:
        ids, joints = gt["image_ids"], gt["joints2d"]
    manifest = json.loads((benchmark.input_dir / "manifest.json").read_text())
    lone = [s for s in manifest["samples"] if (ids == s["sample_id"]).sum() == 1]
    assert lone
    images = np.stack([np.asarray(Image.open(benchmark.input_dir / s["image"])) for s in lone])
    for sample, found in zip(lone, detect(images)):
        assert len(found) == 1, sample["sample_id"]
        person = joints[ids == sample["sample_id"]][0]
        lo, hi = person.min(0), person.max(0)
        x, y, w, h = found[0].box_xywh
        margin = (hi - lo) / 4
        assert (np.array([x, y]) >= lo - margin - 1).all() and (np.array([x + w, y + h]) <= hi + margin + 1).all()
        assert 0 < found[0].score <= 1


def test_detector_and_regressor_write_a_file_the_protocol_scores(benchmark, smplx_model_dir, tmp_path):
    """reference_models.evaluate runs a model behind the detector on a whole-image benchmark (the protocol says so)."""
    protocol = get_protocol("agora-multiperson")
    target = BenchmarkTarget("mp", benchmark.input_dir, benchmark.gt_path, protocol.name, {}, "fb_nmve")
    pred = run_model(TemplateRegressor(SMPLXJoints(smplx_model_dir)), target.images, protocol, smplx_model_dir)
    path = tmp_path / "pred.npz"
    np.savez(path, **pred)
    gt = protocol.load_gt(benchmark.gt_path)
    loaded = protocol.load_predictions(path, gt)  # the upload checks: keys, shapes, known image ids
    assert set(pred) == {"image_ids", "joints2d", "scores", "global_orient", "body_pose", "left_hand_pose",
                         "right_hand_pose", "jaw_pose", "betas", "expression", "transl"}
    people_per_image = np.unique(pred["image_ids"], return_counts=True)[1]
    assert people_per_image.max() > 1 and len(loaded) == len(pred["image_ids"])  # a variable number per image
    score = score_predictions(target, pred, smplx_model_dir)
    figures = score.metrics
    assert score.primary == figures["fb_nmve"] and not score.in_mpe and score.num_samples == 8  # images
    print({k: figures[k] for k in ("precision", "recall", "f1", "true_positives", "misses", "false_positives",
                                   "body_mve", "fb_mve", "fb_nmve")})
    # seed 7: 26 people; the detector merges people whose bodies overlap and splits some, so F1 < 1
    assert 0.5 < figures["f1"] < 1 and figures["true_positives"] > 10
    assert figures["fb_nmve"] == pytest.approx(figures["fb_mve"] / figures["f1"], abs=0.1)
    assert 50 < figures["body_mve"] < 500  # the mean body's error, root-aligned: far from 0, far from nonsense
