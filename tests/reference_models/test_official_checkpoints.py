"""Official SMPLer-X / SMPLest-X checkpoints: complete loads under every naming, exact parameter counts,
and forward outputs equal to the official models' on the same input (golden files, see official_layout.py).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reference_models.checkpoint import CheckpointMismatch, load_official_checkpoint, load_state
from reference_models.models import build_model
from reference_models.params import OFFICIAL_PARAMS, count_parameters

from tests.reference_models.official_layout import DATA_DIR, inventory, inventory_entry, seeded_input, seeded_state_dict

ALL_SIZES = sorted(tuple(k.rsplit("_", 1)) for k in inventory()["models"])
# naming variants the official code writes or renames: current, DDP-wrapped, legacy (pre-rename) + DDP
NAMINGS = {
    "current": {},
    "ddp": {"prefix": "module."},
    "legacy": {"prefix": "module.", "rename": ("encoder.", "backbone.")},
}


def _meta_model(arch: str, size: str) -> torch.nn.Module:
    with torch.device("meta"):
        return build_model(arch, size)


def _meta_state(arch: str, size: str, prefix: str = "", rename: tuple[str, str] | None = None) -> dict:
    """The inventory as meta tensors: names and shapes, no memory (for the big sizes)."""
    out = {}
    for name, shape, dtype in inventory_entry(arch, size)["state_dict"]:
        key = name.replace(*rename) if rename and name.startswith(rename[0]) else name
        out[prefix + key] = torch.empty(shape, dtype=getattr(torch, dtype), device="meta")
    return out


@pytest.mark.parametrize("arch,size", ALL_SIZES)
@pytest.mark.parametrize("naming", sorted(NAMINGS))
def test_every_official_tensor_loads(arch, size, naming):
    model = _meta_model(arch, size)
    report = load_state(model, _meta_state(arch, size, **NAMINGS[naming]), allow_partial=True)
    assert report.complete, report.describe()
    assert report.loaded == len(model.state_dict())
    assert all(k.removeprefix("module.").startswith("smplx_layer.") for k in report.ignored)


def test_legacy_head_names_load():
    state = _meta_state("smpler_x", "S", prefix="module.")
    legacy = {k.replace("body_regressor.", "body_rotation_net.").replace("hand_regressor.", "hand_rotation_net."): v
              for k, v in state.items()}
    assert any("body_rotation_net." in k for k in legacy)
    assert load_state(_meta_model("smpler_x", "S"), legacy, allow_partial=True).complete


@pytest.mark.parametrize("arch,size", ALL_SIZES)
def test_parameter_counts_equal_official(arch, size):
    official = inventory_entry(arch, size)["trainable_params"]
    assert OFFICIAL_PARAMS[(arch, size)] == official
    assert count_parameters(arch, size) == official


def test_partial_official_checkpoint_is_refused_with_the_names(tmp_path):
    state = seeded_state_dict("smpler_x", "S", prefix="module.")
    del state["module.box_net.bbox_center.0.weight"]
    state["module.encoder.extra_head.weight"] = torch.zeros(3)
    state["module.face_regressor.expr_out.0.weight"] = torch.zeros(7, 384)
    torch.save({"network": state, "epoch": 3}, tmp_path / "snapshot_3.pth.tar")
    model = build_model("smpler_x", "S")
    with pytest.raises(CheckpointMismatch) as err:
        load_official_checkpoint(model, tmp_path / "snapshot_3.pth.tar")
    message = str(err.value)
    for fragment in ("1 missing: box_net.bbox_center.0.weight", "1 unexpected: module.encoder.extra_head.weight",
                     "module.face_regressor.expr_out.0.weight: (7, 384) vs (10, 384)"):
        assert fragment in message
    report = load_official_checkpoint(model, tmp_path / "snapshot_3.pth.tar", allow_partial=True)
    counts = report.counts()  # the deleted and the mismatched tensors stay at init, the rest loads
    assert (counts["missing"], counts["mismatched"], counts["unexpected"]) == (1, 1, 1)
    assert counts["loaded"] == len(model.state_dict()) - 2


# (arch, size, samples of the stored batch to run): B runs one sample to keep CI short; the official forward
# is per-sample (eval-mode BatchNorm, one RoI per image), so the first rows of the batch output apply
GOLDEN = [("smpler_x", "S", 2), ("smpler_x", "B", 1), ("smplest_x", "S", 2)]
# official test-output key → ours
OUTPUT_KEYS = {
    "smplx_root_pose": "global_orient", "smplx_body_pose": "body_pose", "smplx_lhand_pose": "left_hand_pose",
    "smplx_rhand_pose": "right_hand_pose", "smplx_jaw_pose": "jaw_pose", "smplx_shape": "betas",
    "smplx_expr": "expression", "cam_trans": "transl",
    "lhand_bbox": "lhand_bbox", "rhand_bbox": "rhand_bbox", "face_bbox": "face_bbox",
}


@pytest.mark.parametrize("arch,size,samples", GOLDEN)
def test_forward_matches_the_official_model(arch, size, samples):
    golden = np.load(DATA_DIR / f"golden_{arch}_{size}.npz")
    model = build_model(arch, size)
    report = load_state(model, seeded_state_dict(arch, size, prefix="module."))
    assert report.complete
    model = model.double().eval()
    with torch.no_grad():
        out = model(seeded_input(torch.float64)[:samples])
    compared = 0
    for official, ours in OUTPUT_KEYS.items():
        if official not in golden.files:
            continue
        expected = golden[official][:samples]
        got = out[ours].reshape(expected.shape).numpy()
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4, err_msg=official)
        compared += 1
    assert compared == len(golden.files)
