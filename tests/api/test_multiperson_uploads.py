"""Uploads to a multi-person benchmark (agora-multiperson): one npz of people per image, checked against the public
image ids; every problem a 4xx naming file, key, shape or image id, and ``ehps check`` says the same offline."""
from __future__ import annotations

import numpy as np
import pytest

from ehps_client.check import check_file
from leaderboard.benchmarks.services import public_sample_ids
from leaderboard.benchmarks.testing import make_multiperson_benchmark, write_npz
from leaderboard.submissions.models import Submission

pytestmark = pytest.mark.django_db


@pytest.fixture
def multi(db):
    return make_multiperson_benchmark("multi", images=6, seed=4)


def _post(client, path):
    with open(path, "rb") as f:
        return client.post("/api/v1/submissions/", {"file": f, "method_name": "m", "benchmark": ["multi"]},
                           format="multipart")


def _offline(path, ids) -> list[str]:
    ids_file = path.with_name("ids.txt")
    ids_file.write_text("\n".join(ids))
    return check_file(path, [], ids_file)[0].problems


def test_a_valid_file_is_accepted_with_images_left_unpredicted(multi, client_for, alice, tmp_path, started):
    benchmark, gt, pred = multi
    first = pred["image_ids"] != pred["image_ids"][0]  # one image with nobody predicted: scored as misses, not refused
    path = write_npz(tmp_path / "pred.npz", {k: v[first] for k, v in pred.items()})
    assert list(public_sample_ids(benchmark)) == list(dict.fromkeys(gt["image_ids"]))  # images only
    response = _post(client_for(alice), path)
    assert response.status_code == 201, response.content
    assert Submission.objects.count() == 1
    assert _offline(path, public_sample_ids(benchmark)) == []


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop("joints2d"), "missing 'joints2d'"),
    (lambda p: p.update(joints2d=p["joints2d"][:, :20]), "'joints2d' has shape"),
    (lambda p: p.update(vertices=p["vertices"][:, :100]), "'vertices' has shape"),
    (lambda p: p.update(image_ids=np.where(np.arange(len(p["image_ids"])) == 2, "elsewhere.png", p["image_ids"])),
     "not in this benchmark, e.g. 'elsewhere.png'"),
    (lambda p: p["joints2d"].__setitem__((1, 0, 0), np.inf), "'joints2d' of image"),
    (lambda p: p.update(scores=np.ones(3)), "'scores' has shape (3,)"),
])
def test_bad_files_are_a_4xx_naming_the_problem_online_and_offline(multi, client_for, alice, tmp_path, started,
                                                                     change, message):
    benchmark, _, pred = multi
    pred = {k: v.copy() for k, v in pred.items()}
    change(pred)
    path = write_npz(tmp_path / "pred.npz", pred)
    response = _post(client_for(alice), path)
    assert 400 <= response.status_code < 500 and message in response.json()["detail"], response.json()
    assert "pred.npz" in response.json()["detail"] and not Submission.objects.exists()
    assert any(message in p for p in _offline(path, public_sample_ids(benchmark)))
    started.assert_not_called()


def test_unknown_keys_and_object_arrays_are_refused_before_loading(multi, client_for, alice, tmp_path):
    _, _, pred = multi
    path = write_npz(tmp_path / "pred.npz", {**pred, "sample_ids": pred["image_ids"]})
    response = _post(client_for(alice), path)
    assert response.status_code == 400 and "unknown keys ['sample_ids']" in response.json()["detail"]
    path = write_npz(tmp_path / "pred.npz", {**pred, "image_ids": pred["image_ids"].astype(object)})
    response = _post(client_for(alice), path)
    assert response.status_code == 400 and "key 'image_ids' is an object array" in response.json()["detail"]
