"""Training as the official code runs it: HumanData loading, per-part validity, dataset mixing, resume,
fine-tune modes, the ViTPose start and 2-process (gloo) training."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DistributedSampler, default_collate

from reference_models.body import SMPLXJoints
from reference_models.config import TrainConfig
from reference_models.data.dataset import CropDataset
from reference_models.data.humandata import load_humandata
from reference_models.data.mixing import MixedDataset, NamedDataset
from reference_models.data.sources import PART_NAMES, load_manifest
from reference_models.data.synthetic import make_synthetic_image_set
from reference_models.losses import compute_losses
from reference_models.models import build_model
from reference_models.pretrained import PretrainedMismatch, apply_fine_tune, load_vitpose
from reference_models.train import KILLED_EXIT_CODE, train
from reference_models.vit import VIT_SIZES

from tests.reference_models.humandata_files import write_humandata

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from evaluator.synthetic_model import make_synthetic_model
    root = tmp_path_factory.mktemp("training")
    model_dir = make_synthetic_model(root / "smplx_model")
    a = make_synthetic_image_set(root / "a", model_dir, num=8, seed=1, progress=False)
    b = make_synthetic_image_set(root / "b", model_dir, num=4, seed=2, progress=False, domain={"hands": False})
    return root, model_dir, a, b


# --- HumanData --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [100, 1_000, 10_000])
def test_humandata_loads_every_field_the_official_loader_uses(tmp_path, n):
    path = tmp_path / "set.npz"
    src = write_humandata(path, n, crowd_every=50)
    interval = 5 if n > 100 else 1
    records = load_humandata(path, "root", name="SET", sample_interval=interval)
    kept = [i for i in range(n) if i % 50 != 0 and i % interval == 0]  # meta.iscrowd drops rows, then the interval
    assert [int(r.sample_id.split("/")[1]) for r in records] == kept
    rec, i = records[1], kept[1]
    assert rec.dataset == "SET" and rec.image_path == Path("root") / f"images/{i:06d}.jpg"
    assert rec.gender == src["meta"]["gender"][i]
    # compressed keypoints padded back to the right columns; the mask becomes the validity column
    np.testing.assert_allclose(rec.keypoints2d[:, :2], src["kp2d"][i, :55, :2], rtol=1e-6)
    np.testing.assert_array_equal(rec.keypoints2d[:, 2], src["mask"][:55])
    np.testing.assert_allclose(rec.keypoints3d[:, :3], src["kp3d"][i, :55, :3], rtol=1e-6)
    assert rec.keypoints2d[30, 2] == 0 and rec.keypoints3d[30, 3] == 0
    # neutral betas preferred; |beta| > 3 zeroed and then no shape label
    betas = src["params"]["betas_neutral"][i]
    if np.abs(betas).max() > 3:
        assert rec.parts["shape"] == 0 and not rec.params["betas"].any()
    else:
        np.testing.assert_allclose(rec.params["betas"], betas, rtol=1e-6)
    np.testing.assert_allclose(rec.params["body_pose"], src["params"]["body_pose"][i], rtol=1e-6)
    # part boxes only where their confidence is > 0, as xyxy
    for part, boxes in src["part_boxes"].items():
        if boxes[i, 4] > 0:
            x, y, w, h = boxes[i, :4]
            np.testing.assert_allclose(rec.part_boxes[part], [x, y, x + w, y + h], rtol=1e-6)
        else:
            assert part not in (rec.part_boxes or {})
    # an all-zero left hand carries no hand label
    lhand = {int(r.sample_id.split("/")[1]): r.parts["lhand"] for r in records}
    assert all(lhand[j] == (0.0 if j % 5 == 1 else 1.0) for j in lhand)


def test_humandata_without_parts_marks_them_unlabelled(tmp_path):
    write_humandata(tmp_path / "body_only.npz", 20, hands=False, face=False, compressed=False)
    write_humandata(tmp_path / "kp_only.npz", 20, smplx=False)
    body_only = load_humandata(tmp_path / "body_only.npz")
    assert {r.parts["lhand"] for r in body_only} == {0.0} and {r.parts["face"] for r in body_only} == {0.0}
    assert {r.parts["body"] for r in body_only} == {1.0}
    assert not body_only[0].params["left_hand_pose"].any()  # a zero placeholder, weighted 0 in the loss
    kp_only = load_humandata(tmp_path / "kp_only.npz")
    assert kp_only[0].params is None and set(kp_only[0].parts.values()) == {0.0}
    assert kp_only[0].keypoints2d[:, 2].sum() > 0


# --- validity in the loss ---------------------------------------------------------------------------------

def _batch(data_dir, n=3):
    ds = CropDataset(load_manifest(data_dir))
    return default_collate([ds[i] for i in range(n)])


@pytest.mark.parametrize("arch", ["smpler_x", "smplest_x"])
def test_unlabelled_parts_give_exactly_zero_gradient(arch, assets):
    _, model_dir, a, _ = assets
    batch = _batch(a)
    parts = batch["parts"].clone()
    parts[0, PART_NAMES.index("lhand")] = 0  # sample 0: no left hand, no face labels
    parts[0, PART_NAMES.index("face")] = 0
    batch["parts"] = parts
    kp = batch["keypoints2d"].clone()
    kp[0, 25:40, 2] = 0  # and no 2D labels on those parts either
    kp[0, [15, 22, 23, 24], 2] = 0
    kp[0, 12, 2] = 0
    batch["keypoints2d"] = kp
    torch.manual_seed(0)
    model = build_model(arch, "tiny").train()
    out = model(batch["img"])
    # SMPLest-X's pose loss reads its rotation matrices, SMPLer-X's the axis-angle outputs
    rot = out["rotmats"] if arch == "smplest_x" else {}
    watched = {k: out[k] for k in ("left_hand_pose", "right_hand_pose", "expression")}
    watched.update({f"rot_{k}": rot.get(k, out[k]) for k in ("left_hand_pose", "right_hand_pose", "jaw_pose")})
    for t in watched.values():
        t.retain_grad()
    compute_losses(arch, out, batch, SMPLXJoints(model_dir))["total"].backward()
    for k, t in watched.items():
        if "right" in k:
            assert torch.count_nonzero(t.grad[0]) > 0, k  # the labelled right hand of sample 0 trains
            continue
        assert torch.count_nonzero(t.grad[0]) == 0, k  # exactly zero, not small
        assert torch.count_nonzero(t.grad[1]) > 0, k  # a labelled sample does train it


def test_2d_only_samples_train_only_2d_terms(assets):
    _, model_dir, a, _ = assets
    batch = _batch(a)
    batch["has_smplx"] = torch.zeros(3)
    batch["parts"] = torch.zeros_like(batch["parts"])
    losses = compute_losses("smpler_x", build_model("smpler_x", "tiny")(batch["img"]), batch, SMPLXJoints(model_dir))
    for term in ("pose", "shape", "expression", "joints3d", "joints3d_part"):
        assert losses[term].item() == 0.0, term
    assert losses["joints2d"].item() > 0 and losses["position"].item() > 0


# --- mixing -----------------------------------------------------------------------------------------------

class _Rows(torch.utils.data.Dataset):
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"row": i}


def _mix(strategy, total=None, seed=0, sizes=(3, 10, 50)):
    return MixedDataset([NamedDataset(name, _Rows(n)) for name, n in zip(("small", "mid", "big"), sizes)],
                        strategy, total, seed)


def test_balance_draws_each_dataset_equally_and_deterministically():
    mix = _mix("balance", 60)
    assert mix.draw_counts() == {"small": 20, "mid": 20, "big": 20}
    rows = [mix.locate(i) for i in range(60)]
    small = [r for d, r in rows if d == 0]
    assert sorted(small[:18]) == sorted(list(range(3)) * 6)  # whole passes by modulo, the rest random
    assert len({r for d, r in rows if d == 2}) == 20  # a big dataset gives a seeded subset of its rows
    assert rows == [_mix("balance", 60).locate(i) for i in range(60)]
    assert rows != [_mix("balance", 60, seed=1).locate(i) for i in range(60)]
    # 62 // 3 = 20 each; the 2 left over go to datasets drawn from the seed (fixed for seed 3)
    assert _mix("balance", 62, seed=3).draw_counts() == {"small": 21, "mid": 21, "big": 20}
    assert _mix("balance").draw_counts() == {"small": 50, "mid": 50, "big": 50}  # default: largest × n


def test_concat_draws_in_proportion_to_size():
    mix = _mix("concat")
    assert len(mix) == 63 and mix.draw_counts() == {"small": 3, "mid": 10, "big": 50}
    assert mix.locate(3) == (1, 0) and mix.locate(62) == (2, 49)
    assert mix[13] == {"row": 0, "dataset": "big"}
    with pytest.raises(ValueError, match="data_strategy"):
        _mix("mixed")


@pytest.mark.parametrize("strategy", ["balance", "concat"])
def test_two_ranks_split_exactly_the_single_process_draws(strategy):
    mix = _mix(strategy, 60, sizes=(3, 11, 50))  # an even number of draws, so no rank pads
    samplers = [DistributedSampler(mix, num_replicas=w, rank=r, seed=5, drop_last=True) for w, r in ((1, 0), (2, 0), (2, 1))]
    single, rank0, rank1 = (list(s) for s in samplers)
    assert not set(rank0) & set(rank1) and sorted(rank0 + rank1) == sorted(single)  # same indices, split
    locate = lambda ids: sorted(mix.locate(i) for i in ids)  # noqa: E731
    assert locate(rank0 + rank1) == locate(single)  # and the same (dataset, row) draws
    both = {k: mix.draw_counts(list(samplers[1]))[k] + mix.draw_counts(list(samplers[2]))[k] for k in mix.draw_counts()}
    assert both == mix.draw_counts(list(samplers[0]))


# --- starting points ----------------------------------------------------------------------------------------

# ViTPose checkpoints (ViTPose configs ViTPose_{small,base,large,huge}_coco_256x192.py): embed dim, depth
VITPOSE = {"S": (384, 12), "B": (768, 12), "L": (1024, 24), "H": (1280, 32)}
VITPOSE_TENSORS = {"S": 149, "B": 149, "L": 293, "H": 389}  # backbone tensors: 12 per block + 5


def vitpose_layout(size: str) -> dict[str, torch.Tensor]:
    """The official vitpose_*.pth ``state_dict`` names and shapes (meta tensors), keypoint head included."""
    c, depth = VITPOSE[size]
    shapes = {"backbone.patch_embed.proj.weight": (c, 3, 16, 16), "backbone.patch_embed.proj.bias": (c,),
              "backbone.pos_embed": (1, 193, c), "backbone.last_norm.weight": (c,), "backbone.last_norm.bias": (c,),
              "keypoint_head.deconv_layers.0.weight": (c, 256, 4, 4), "keypoint_head.final_layer.weight": (17, 256, 1, 1)}
    for i in range(depth):
        for name, shape in (("norm1", (c,)), ("attn.qkv", (3 * c, c)), ("attn.proj", (c, c)), ("norm2", (c,)),
                            ("mlp.fc1", (4 * c, c)), ("mlp.fc2", (c, 4 * c))):
            shapes[f"backbone.blocks.{i}.{name}.weight"] = shape
            shapes[f"backbone.blocks.{i}.{name}.bias"] = (shape[0],)
    return {k: torch.empty(v, device="meta") for k, v in shapes.items()}


@pytest.mark.parametrize("size", sorted(VITPOSE))
@pytest.mark.parametrize("arch", ["smpler_x", "smplest_x"])
def test_vitpose_checkpoint_fills_the_encoder(arch, size):
    with torch.device("meta"):
        model = build_model(arch, size)
    report = load_vitpose(model, vitpose_layout(size))
    assert report.loaded == VITPOSE_TENSORS[size] and report.complete
    assert report.ignored == ["keypoint_head.deconv_layers.0.weight", "keypoint_head.final_layer.weight"]
    if size != "H":
        with pytest.raises(PretrainedMismatch, match="mismatch"):
            load_vitpose(model, vitpose_layout("H"))


def test_vitpose_values_land_in_the_encoder():
    model = build_model("smpler_x", "tiny")
    state = {f"backbone.{k}": torch.full_like(v, 0.5) for k, v in model.encoder.state_dict().items() if k != "task_tokens"}
    tokens = model.encoder.task_tokens.detach().clone()
    load_vitpose(model, state)
    assert (model.encoder.pos_embed == 0.5).all() and torch.equal(model.encoder.task_tokens, tokens)


@pytest.mark.parametrize("mode,frozen", [("backbone", {"box_net", "hand_roi_net", "body_regressor", "face_regressor"}),
                                         ("neck_and_head", {"encoder"}), ("head", {"encoder", "box_net", "hand_roi_net"})])
def test_fine_tune_modes_freeze_as_the_official_options(mode, frozen):
    model = build_model("smpler_x", "tiny")
    counts = apply_fine_tune(model, mode)
    for name, module in model.named_children():
        grads = {p.requires_grad for p in module.parameters()}
        if name in frozen:
            assert grads == {False}, name
    trainable = {n for n, m in model.named_children() if any(p.requires_grad for p in m.parameters())}
    assert ("encoder" in trainable) == (mode == "backbone")
    assert counts["frozen"] > 0 and counts["trainable"] > 0


# --- resume and multi-process --------------------------------------------------------------------------------

def _config(root: Path, model_dir: Path, a: Path, b: Path, out: str, **extra) -> TrainConfig:
    return TrainConfig(arch="smpler_x", size="tiny", model_dir=str(model_dir), out_dir=str(root / out),
                       train=[{"type": "manifest", "path": str(a), "name": "A"},
                              {"type": "manifest", "path": str(b), "name": "B"}],
                       data_strategy="balance", total_data_len=12, batch_size=4, max_steps=6, lr=1e-3, min_lr=1e-5,
                       amp=False, num_workers=0, log_every=1, save_every=2, seed=3, **extra)


def test_resume_continues_bit_identical(assets):
    root, model_dir, a, b = assets
    train(_config(root, model_dir, a, b, "straight"))  # 3 steps per epoch, 6 steps
    with pytest.raises(SystemExit) as killed:
        train(_config(root, model_dir, a, b, "killed"), exit_after_step=5)  # last checkpoint at step 4, mid-epoch
    assert killed.value.code == KILLED_EXIT_CODE
    assert torch.load(root / "killed" / "last.pth", weights_only=False)["step"] == 4
    train(_config(root, model_dir, a, b, "killed"), resume=True)
    straight = torch.load(root / "straight" / "last.pth", weights_only=False)
    resumed = torch.load(root / "killed" / "last.pth", weights_only=False)
    assert resumed["step"] == straight["step"] == 6
    for k, v in straight["model"].items():
        assert torch.equal(v, resumed["model"][k]), k
    assert resumed["scheduler"]["last_epoch"] == 6
    log = [json.loads(line) for line in (root / "straight" / "log.jsonl").read_text().splitlines()]
    mix = log[0]["start"]["mix"]
    assert [d["name"] for d in mix["datasets"]] == ["A", "B"] and mix["draws_per_pass"] == {"A": 6, "B": 6}


def test_two_process_gloo_training_and_resume(assets):
    root, model_dir, a, b = assets
    cfg = _config(root, model_dir, a, b, "ddp")
    cfg.batch_size, cfg.max_steps, cfg.total_data_len = 2, 4, 16
    path = root / "ddp.json"
    path.write_text(json.dumps(cfg.to_json()))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "reference_models.train", "--config", str(path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(cmd + ["--exit-after-step", "3"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode != 0 and "SyncBatchNorm" not in first.stderr, first.stderr[-2000:]
    second = subprocess.run(cmd + ["--resume"], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-3000:]
    assert sorted(p.name for p in (root / "ddp").iterdir()) == ["last.pth", "log.jsonl"]  # rank 0 alone writes
    log = [json.loads(line) for line in (root / "ddp" / "log.jsonl").read_text().splitlines()]
    starts = [r["start"] for r in log if "start" in r]
    assert [s["resumed_at_step"] for s in starts] == [0, 2] and {s["world_size"] for s in starts} == {2}
    steps = [r for r in log if "lr" in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 3, 4]  # step 3 redone after the kill, each logged once (rank 0)
    assert steps[2]["total"] == steps[3]["total"] and steps[2]["draws"] == steps[3]["draws"]  # and redone identically
    assert log[-1]["world_size"] == 2 and log[-1]["step"] == 4
    assert log[-1]["rank_param_spread"] == 0.0  # both ranks hold identical parameters


# --- GPU mixed-precision check (runs its CPU half here) ---------------------------------------------------------

def test_amp_check_skips_clearly_without_cuda(assets, tmp_path, capsys, monkeypatch):
    from reference_models import amp_check

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = ["--size", "tiny", "--steps", "2", "--batch-size", "2", "--model-dir", str(assets[1])]
    assert amp_check.main(args + ["--json", str(tmp_path / "r.json")]) == 0
    assert "SKIP: no CUDA device" in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["cpu"]["losses"]) == 2 and report["skipped"] == "no CUDA device"
    assert amp_check.compare([10.0, 10.0], [10.05, 10.4]) == ([pytest.approx(5e-3), pytest.approx(4e-2)], True)
    assert not amp_check.compare([10.0], [10.2])[1]  # step 0 beyond 1e-2


def test_scaling_tables_and_plot_from_a_grid(tmp_path):
    from reference_models import scaling

    cfg = scaling.run_config(scaling.Grid(tmp_path, steps=10, batch_size=4), list(scaling.DOMAINS)[:2], "concat", 1)
    assert [e["name"] for e in cfg.train] == list(scaling.DOMAINS)[:2] and cfg.total_data_len == 40 and cfg.seed == 1
    benches = ["x", "y"]
    runs = [{"run": f"r{n}{s}{k}", "datasets": list("abcd")[:n], "strategy": s, "seed": k, "mpe": 100.0 - n + k,
             "errors": {"x": 1.0, "y": 2.0}} for n in (1, 2, 4) for s in scaling.STRATEGIES for k in (0, 1)]
    result = {"grid": {"steps": 10, "batch_size": 4, "train_images": 8, "test_images": 4, "seeds": [0, 1],
                       "benchmarks": benches}, "runs": runs, "per_dataset": [dict(runs[0], datasets=["a"])]}
    assert scaling.summary(result)["balance"][4] == (96.5, 0.5)
    text = scaling.markdown(result)
    assert "| 4 | 96.5 ± 0.5 | 96.5 ± 0.5 |" in text and "| 1 | a | 99.0 |" in text
    svg = scaling.svg_plot(result)
    assert svg.count("<polyline") == 2 and svg.startswith("<svg")
