"""Whole-image (multi-person) model runs: the TorchScript entry feeds whole images, no boxes, and takes any
number of people per image; the worker checks the file with the benchmark protocol's keys."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from workers.runners import torchscript_entry as entry


class PeopleByWidth(torch.nn.Module):
    """Finds (width // 100) people and writes the input's height and width into their joints: what it was given."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = x.shape[3] // 100
        size = torch.tensor([float(x.shape[3]), float(x.shape[2])])
        return {"joints2d": size.expand(n, 24, 2), "vertices": torch.zeros(n, 10475, 3),
                "scores": torch.full((n,), float(x.shape[0]))}


def _input(tmp_path: Path, widths: list[int]) -> Path:
    folder = tmp_path / "input"
    (folder / "images").mkdir(parents=True)
    samples = []
    for i, w in enumerate(widths):
        Image.fromarray(np.zeros((60, w, 3), np.uint8)).save(folder / f"images/{i}.png")
        samples.append({"sample_id": f"img{i}", "image": f"images/{i}.png", "width": w, "height": 60})
    (folder / "manifest.json").write_text(json.dumps({"benchmark": "b", "input": entry.WHOLE_IMAGE, "samples": samples}))
    return folder


def test_whole_images_in_any_number_of_people_out(tmp_path):
    model_path = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(PeopleByWidth()), str(model_path))
    out = tmp_path / "predictions.npz"
    assert entry.run(model_path, _input(tmp_path, [250, 90, 320]), out, batch_size=8, device="cpu") == 0
    with np.load(out, allow_pickle=False) as pred:
        assert pred["image_ids"].tolist() == ["img0", "img0", "img2", "img2", "img2"]  # img1: nobody found
        assert pred["vertices"].shape == (5, 10475, 3) and pred["scores"].tolist() == [1.0] * 5  # one image a call
        np.testing.assert_array_equal(pred["joints2d"][:, 0], [[250, 60]] * 2 + [[320, 60]] * 3)  # whole, uncropped


def test_whole_image_outputs_are_checked(tmp_path):
    samples = entry.load_samples(_input(tmp_path, [200]))
    assert samples[0][2] is None  # no box in a whole-image manifest
    with pytest.raises(entry.RunnerError) as exc:
        entry.people_found({"vertices": torch.zeros(1, 10475, 3)})
    assert exc.value.code == "missing_outputs"
    with pytest.raises(entry.RunnerError) as exc:
        entry.people_found({"joints2d": torch.zeros(2, 23, 2)})
    assert exc.value.code == "bad_shape"
    with pytest.raises(entry.RunnerError, match="'scores' has shape"):
        entry.reshape_outputs({"scores": torch.zeros(3)}, 2, entry.PERSON_SHAPES)


def test_the_protocol_decides_the_keys_a_model_file_may_hold(tmp_path, settings):
    """A multi-person file passes the structure check for a whole-image benchmark, not for a per-crop one."""
    from leaderboard.benchmarks.models import Benchmark
    from workers.model_runs import _check_structure, _Invalid

    path = tmp_path / "p.npz"
    np.savez(path, image_ids=np.array(["a"]), joints2d=np.zeros((1, 24, 2), np.float32),
             vertices=np.zeros((1, 10475, 3), np.float32), scores=np.ones(1, np.float32))
    _check_structure(path, Benchmark(slug="mp", protocol="agora-multiperson"))
    with pytest.raises(_Invalid):
        _check_structure(path, Benchmark(slug="crop", protocol="smplx-generic"))


class PeopleFromCorner(torch.nn.Module):
    """0-2 people per image, as many as the top-left pixel's red value modulo 3: a variable count the images decide."""

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n = int(x[0, 0, 0, 0] * 255) % 3
        return {"joints2d": torch.full((n, 24, 2), 50.0), "vertices": torch.zeros(n, 10475, 3)}


@pytest.mark.container
@pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")
def test_a_whole_image_archive_runs_in_the_sandbox(tmp_path, smplx_model_dir):
    """Through bubblewrap: whole rendered images in, a file the agora-multiperson protocol accepts out."""
    from runner_test_support import require_binaries
    from torchscript_archives import make_archive

    from evaluator.multiperson_images import make_multiperson_image_benchmark
    from evaluator.protocols import get_protocol
    from workers.runners import RunLimits, run_model_submission, runner_available

    require_binaries("bwrap", "prlimit")
    ok, reason = runner_available("archive")
    assert ok, reason
    images = make_multiperson_image_benchmark(tmp_path / "mp", smplx_model_dir, 4, seed=2, image_size=(120, 160))
    limits = RunLimits(time_s=120, memory_bytes=3 * 1024**3, output_bytes=64 * 1024**2, log_bytes=16 * 1024)
    result = run_model_submission("archive", make_archive(tmp_path, PeopleFromCorner()), images.input_dir,
                                  tmp_path / "work", limits)
    assert result.ok, (result.error, result.log_tail)
    protocol = get_protocol("agora-multiperson")
    pred = protocol.load_predictions(result.predictions_path, protocol.load_gt(images.gt_path))
    expected = []
    for sample in json.loads((images.input_dir / "manifest.json").read_text())["samples"]:
        red = int(np.asarray(Image.open(images.input_dir / sample["image"]))[0, 0, 0])
        expected += [sample["sample_id"]] * (red % 3)
    assert pred.image_ids.tolist() == expected and len(expected) == 5  # seed 2: 0, 2, 1 and 2 people
