"""agora-multiperson: matching as the official AGORA matcher, P/R/F1, F1-normalised errors, shards."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from evaluator.metric_sums import MetricSums
from evaluator.multiperson_format import MultiPersonFormatError
from evaluator.multiperson_matching import match_image
from evaluator.multiperson_synthetic import make_multiperson_set
from evaluator.protocols import get_protocol

from tests.evaluator.multiperson_cases import match_cases

GOLDEN = Path(__file__).parent / "data" / "agora_golden_matchings.json"
PRED_KEYS = ("image_ids", "joints2d", "vertices", "joints3d")


def npz(arrays: dict) -> io.BytesIO:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    buf.seek(0)
    return buf


@pytest.fixture(scope="module")
def protocol():
    return get_protocol("agora-multiperson")


@pytest.fixture(scope="module")
def dataset(body_model):
    """40 images of 1-4 people; every person valid (occlusion <= 90 %), some kids."""
    gt, noisy = make_multiperson_set(body_model, 40, seed=3)
    gt["valid"][:] = True
    gt["occlusion"] = np.minimum(gt["occlusion"], 90)
    return gt, noisy


def as_prediction(gt: dict, rows: np.ndarray) -> dict:
    out = {k: gt[k][rows] for k in PRED_KEYS}
    out["joints2d"] = out["joints2d"][:, :24]
    return out


def score(protocol, body_model, gt: dict, pred: dict, shards: int = 1) -> dict:
    g = protocol.load_gt(npz(gt))
    p = protocol.load_predictions(npz(pred), g)
    parts = np.array_split(np.arange(len(g.images)), shards)
    sums = MetricSums.merge_all(protocol.score(body_model, g, p, gt_index=part)["test"] for part in parts)
    return protocol.summarize(sums) | {"_sums": sums.to_dict()}


def test_golden_matchings_equal_the_official_matcher():
    golden = json.loads(GOLDEN.read_text())
    cases = list(match_cases(golden["seed"], golden["images"]))
    assert len(cases) == len(golden["matchings"]) >= 500
    for i, ((pred, gt, eligible), want) in enumerate(zip(cases, golden["matchings"])):
        m = match_image(pred, gt, eligible)
        got = {"pairs": [list(p) for p in m.pairs], "false_positives": list(m.false_positives),
               "misses": list(m.misses), "excluded": list(m.excluded)}
        assert got == want, f"image {i}"


def test_gt_as_prediction_shuffled_is_perfect(protocol, body_model, dataset):
    gt, _ = dataset
    rows = np.random.default_rng(0).permutation(len(gt["image_ids"]))
    out = score(protocol, body_model, gt, as_prediction(gt, rows))
    assert (out["precision"], out["recall"], out["f1"]) == (1.0, 1.0, 1.0)
    assert out["false_positives"] == 0 and out["misses"] == 0 and out["true_positives"] == len(rows)
    for key in ("body_mpjpe_raw", "body_mve_raw", "fb_mve_raw", "fb_nmve_raw", "kid_fb_nmje_raw", "lhand_mve_raw"):
        assert out[key] == 0.0, key
    assert out["kid_f1"] == 1.0 and out["kid_true_positives"] == int(gt["kid"].sum())


def test_one_person_dropped_from_every_three_person_image(protocol, body_model, dataset):
    gt, _ = dataset
    ids = gt["image_ids"]
    images, counts = np.unique(ids, return_counts=True)
    three = set(images[counts == 3])
    assert len(three) >= 3
    first_of_three = {i: np.flatnonzero(ids == i)[0] for i in three}
    keep = np.array([r for r in range(len(ids)) if r not in first_of_three.values()])
    pred = as_prediction(gt, keep)
    offset = 0.01  # every predicted vertex 10 mm off along x, joints exact: MVE 10 mm per matched part
    pred["vertices"] = pred["vertices"] + np.array([offset, 0, 0], np.float32)
    out = score(protocol, body_model, gt, pred)
    total, fn = len(ids), len(three)
    tp = total - fn
    f1 = tp / (tp + 0.5 * fn)
    assert out["recall_raw"] == tp / total and out["precision_raw"] == 1.0 and out["f1_raw"] == f1
    assert out["recall"] == round(tp / total, 2) and out["f1"] == round(f1, 2)
    # official: hands/face average every valid person of images with predictions, misses as 0
    hand = 10.0 * tp / total
    fb = 10.0 + (hand + hand + hand) / 3
    assert out["body_mve_raw"] == pytest.approx(10.0, abs=2e-3)
    assert out["lhand_mve_raw"] == pytest.approx(hand, abs=2e-3)
    assert out["fb_mve_raw"] == pytest.approx(fb, abs=5e-3)
    assert out["fb_nmve_raw"] == pytest.approx(fb / f1, abs=5e-3)
    official_fb = float(round(np.float64(round(10.0, 1) + 3 * (1 / 3) * round(hand, 1)), 1))
    assert out["fb_mve"] == pytest.approx(official_fb, abs=0.11)
    assert out["fb_nmve"] == float(round(np.float64(out["fb_mve"] / out["f1"]), 1))
    assert out["body_mpjpe_raw"] == 0.0


def test_prediction_outside_the_gate_is_a_false_positive(protocol, body_model, dataset):
    gt, _ = dataset
    rows = np.arange(len(gt["image_ids"]))
    pred = as_prediction(gt, np.r_[rows, 0])
    pred["joints2d"][-1] = pred["joints2d"][-1] - pred["joints2d"][-1].min(0) + 5000  # far from everyone
    out = score(protocol, body_model, gt, pred)
    assert out["false_positives"] == 1 and out["recall"] == 1.0
    assert out["precision_raw"] == len(rows) / (len(rows) + 1)
    m = match_image(pred["joints2d"][-1:], gt["joints2d"][:1], np.array([True]))
    assert m.pairs == () and m.false_positives == (0,) and m.misses == (0,)


def test_invalid_gt_left_unpredicted_is_neither_miss_nor_match(protocol, body_model, dataset):
    gt, _ = dataset
    gt = {k: v.copy() for k, v in gt.items()}
    gt["valid"][::5] = False
    gt["occlusion"][1::5] = 95.0  # > 90 % occluded: excluded too
    eligible = np.flatnonzero(gt["valid"] & (gt["occlusion"] <= 90))
    out = score(protocol, body_model, gt, as_prediction(gt, eligible))
    assert (out["precision"], out["recall"], out["misses"]) == (1.0, 1.0, 0)
    assert out["true_positives"] == len(eligible)


def test_a_prediction_of_an_ineligible_person_is_a_false_positive(protocol, body_model, dataset):
    """Official quirk: the matcher retires the invalid GT and leaves its prediction unmatched."""
    gt, _ = dataset
    gt = {k: v.copy() for k, v in gt.items()}
    gt["valid"][0] = False
    out = score(protocol, body_model, gt, as_prediction(gt, np.arange(len(gt["image_ids"]))))
    assert out["false_positives"] == 1 and out["recall"] == 1.0


def test_results_are_bit_identical_for_1_3_and_7_shards(protocol, body_model, dataset):
    gt, noisy = dataset
    results = [score(protocol, body_model, gt, noisy, shards) for shards in (1, 3, 7)]
    assert results[0]["false_positives"] >= 0 and results[0]["body_mve_raw"] > 0
    assert results[0] == results[1] == results[2]


def test_breakdowns_count_every_binned_person(protocol, body_model, dataset):
    gt, noisy = dataset
    out = score(protocol, body_model, gt, noisy)
    table = protocol.breakdowns(out)
    occ = table["occlusion"]
    assert sum(b["people"] for b in occ) == int(((gt["occlusion"] > -1) & (gt["occlusion"] <= 80)).sum())
    assert sum(b["people"] for b in table["orientation"]) == len(gt["image_ids"])
    assert sum(b["people"] for b in table["x_location"]) <= len(gt["image_ids"])
    assert len(table["x_location"]) == 10 and occ[0]["bin"] == "0-10 %"
    assert all(isinstance(v, (int, float, type(None))) for k, v in out.items() if k != "_sums")  # JSON numbers


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("joints2d"), "missing 'joints2d'"),
    (lambda p: p.update(joints2d=p["joints2d"][:, :20]), "'joints2d' has shape"),
    (lambda p: p.update(image_ids=np.where(np.arange(len(p["image_ids"])) == 0, "nope", p["image_ids"])),
     "not in this benchmark, e.g. 'nope'"),
    (lambda p: p["vertices"].__setitem__((1, 0, 0), np.nan), "is not finite"),
    (lambda p: p.update(extra=np.zeros(3)), "unknown key(s) ['extra']"),
])
def test_bad_predictions_name_the_problem(protocol, dataset, change, message):
    gt, _ = dataset
    pred = as_prediction(gt, np.arange(len(gt["image_ids"])))
    pred["vertices"] = pred["vertices"].copy()
    change(pred)
    with pytest.raises(MultiPersonFormatError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        protocol.load_predictions(npz(pred), protocol.load_gt(npz(gt)))


def test_bedlam_variant_needs_3d_joints_and_has_no_kid_rows(body_model, dataset):
    gt, _ = dataset
    bedlam = get_protocol("agora-multiperson", {"variant": "bedlam"})
    pred = as_prediction(gt, np.arange(len(gt["image_ids"])))
    out = score(bedlam, body_model, gt, pred)
    assert out["f1"] == 1.0 and not any(k.startswith("kid_") for k in out)
    pred.pop("joints3d")
    with pytest.raises(MultiPersonFormatError, match="missing 'joints3d'"):
        bedlam.load_predictions(npz(pred), bedlam.load_gt(npz(gt)))


def test_the_cli_scores_a_multiperson_file_offline(dataset, smplx_model_dir, tmp_path, capsys):
    from evaluator.__main__ import main

    gt, noisy = dataset
    np.savez(tmp_path / "gt.npz", **gt)
    np.savez(tmp_path / "pred.npz", **noisy)
    args = ["score", "--protocol", "agora-multiperson", "--gt", str(tmp_path / "gt.npz"), "--pred",
            str(tmp_path / "pred.npz"), "--model-dir", str(smplx_model_dir), "--quiet"]
    assert main([*args, "--json", str(tmp_path / "out.json")]) == 0
    report = json.loads((tmp_path / "out.json").read_text())["splits"]["test"]
    out = capsys.readouterr().out
    assert "FB-NMVE" in out and f"{report['means']['fb_nmve']:.2f}" in out and report["num_samples"] == 40
    assert main([*args, "--per-sample", str(tmp_path / "rows.npz")]) == 2
    assert "keeps no per-sample values" in capsys.readouterr().err
