"""agora-multiperson importer: AGORA ground-truth dataframe rows (trusted pickle) and plain npz."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from evaluator.importers.agora_multiperson import import_agora_multiperson
from evaluator.importers.base import GroundTruthImportError
from evaluator.multiperson_format import load_person_set


def agora_rows() -> list[dict]:
    """Two AGORA GT dataframe rows (a.png: two people, the second an invalid kid; b.png: one) as row dicts."""
    rng = np.random.default_rng(0)
    person = lambda: dict(j2=rng.uniform(0, 3000, (127, 2)), v=rng.normal(size=(10475, 3)), j3=rng.normal(size=(127, 3)))  # noqa: E731
    people = [person() for _ in range(3)]
    return [
        {"imgPath": "a.png", "isValid": [True, False], "occlusion": [5.0, 95.0], "kid": [False, True],
         "Yaw": [10.0, 20.0], "YawLocal": [float("nan"), 30.0], "camYaw": 4.0,
         "gt_joints_2d": [people[0]["j2"], people[1]["j2"]], "gt_verts": [people[0]["v"], people[1]["v"]],
         "gt_joints_3d": [people[0]["j3"], people[1]["j3"]]},
        {"imgPath": "b.png", "isValid": [True], "occlusion": [50.0], "kid": [False], "Yaw": [90.0], "camYaw": 0.0,
         "gt_joints_2d": [people[2]["j2"]], "gt_verts": [people[2]["v"]], "gt_joints_3d": [people[2]["j3"]]},
    ]


def test_agora_dataframe_rows_become_per_person_gt(tmp_path):
    src = tmp_path / "val_0.pkl"
    src.write_bytes(pickle.dumps(agora_rows()))
    out = import_agora_multiperson(tmp_path, tmp_path / "gt.npz", split="hidden")
    gt = load_person_set(out, role="gt")
    assert list(gt.images) == ["a.png", "b.png"] and list(gt.splits) == ["hidden", "hidden"]
    assert gt.arrays["joints2d"].shape == (3, 127, 2) and gt.arrays["joints3d"].shape == (3, 127, 3)
    assert list(gt.meta["valid"]) == [True, False, True] and list(gt.meta["kid"]) == [False, True, False]
    assert list(gt.meta["yaw"]) == [10.0, 30.0, 90.0]  # YawLocal unless NaN, as compute_avg_error
    assert list(gt.meta["cam_yaw"]) == [4.0, 4.0, 0.0] and set(gt.meta["image_width"]) == {3840.0}
    again = import_agora_multiperson(out, tmp_path / "again.npz")
    assert load_person_set(again, role="gt").arrays["vertices"].shape == (3, 10475, 3)


def test_bad_sources_name_the_problem(tmp_path):
    rows = agora_rows()
    del rows[1]["Yaw"]
    (tmp_path / "x.pkl").write_bytes(pickle.dumps(rows))
    with pytest.raises(GroundTruthImportError, match="'b.png': person 0 has neither YawLocal nor Yaw"):
        import_agora_multiperson(tmp_path / "x.pkl", tmp_path / "gt.npz")
    np.savez(tmp_path / "bad.npz", image_ids=np.array(["a"]), joints2d=np.zeros((1, 24, 2)))
    with pytest.raises(GroundTruthImportError, match="needs 'vertices'"):
        import_agora_multiperson(tmp_path / "bad.npz", tmp_path / "gt.npz")
