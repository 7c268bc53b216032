"""ehps convert-agora: official per-person .pkl zip -> multi-person predictions .npz (researcher side)."""
from __future__ import annotations

import pickle
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from ehps_client.cli import app
from ehps_client.convert_agora import ConvertError, convert_agora
from evaluator.multiperson_format import load_person_set


def _zip(path, people: dict[str, dict]) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("predictions/", "")
        for name, d in people.items():
            zf.writestr(f"predictions/{name}", pickle.dumps(d))


def test_vertex_files_become_one_npz_in_person_id_order(tmp_path):
    rng = np.random.default_rng(0)
    people = {f"ag_trainset_x_personId_{k}.pkl": {"joints": rng.uniform(0, 3840, (24, 2)),
                                                       "verts": rng.normal(size=(10475, 3)),
                                                       "allSmplJoints3d": rng.normal(size=(127, 3))}
              for k in (1, 0)}
    people["other_image_personId_0.pkl"] = {"joints": rng.uniform(0, 3840, (1, 24, 2)),
                                            "verts": rng.normal(size=(10475, 3)),
                                            "allSmplJoints3d": rng.normal(size=(127, 3))}
    _zip(tmp_path / "p.zip", people)
    result = CliRunner().invoke(app, ["convert-agora", str(tmp_path / "p.zip"), "-o", str(tmp_path / "pred.npz")])
    assert result.exit_code == 0, result.output
    assert "3 people in 2 images" in result.output
    pred = load_person_set(tmp_path / "pred.npz", role="pred")
    assert list(pred.image_ids) == ["ag_trainset_x.png", "ag_trainset_x.png", "other_image.png"]
    first = people["ag_trainset_x_personId_0.pkl"]
    np.testing.assert_array_equal(pred.arrays["joints2d"][0], first["joints"].astype(np.float32))
    np.testing.assert_array_equal(pred.arrays["joints3d"][0], first["allSmplJoints3d"].astype(np.float32))


def test_params_and_bad_files(tmp_path):
    params = {"global_orient": np.zeros((1, 3)), "body_pose": np.zeros((1, 63)), "left_hand_pose": np.zeros((1, 45)),
              "right_hand_pose": np.zeros((1, 45)), "jaw_pose": np.zeros((1, 3)), "betas": np.zeros((1, 10)),
              "expression": np.zeros((1, 10)), "transl": np.zeros((1, 3))}
    _zip(tmp_path / "p.zip", {"im_personId_0.pkl": {"joints": np.zeros((24, 2)), "params": params, "age": "kid"}})
    done = convert_agora(tmp_path / "p.zip", tmp_path / "pred.npz")
    assert done["people"] == 1 and done["notes"] == ["age=kid ignored (the neutral adult SMPL-X model is used)"]
    assert load_person_set(tmp_path / "pred.npz").arrays["body_pose"].shape == (1, 63)
    _zip(tmp_path / "bad.zip", {"im_personId_0.pkl": {"joints": np.zeros((24, 2)), "params": {**params, "betas": np.zeros((1, 11))}}})
    with pytest.raises(ConvertError, match="im_personId_0.pkl: 11 betas"):
        convert_agora(tmp_path / "bad.zip", tmp_path / "x.npz")
    result = CliRunner().invoke(app, ["convert-agora", str(tmp_path / "bad.zip"), "-o", str(tmp_path / "x.npz")])
    assert result.exit_code == 2 and "11 betas" in result.output
