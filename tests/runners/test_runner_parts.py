"""Runner pieces that need no sandbox: log tail, upload detection, output checks, entry-script protocol."""
from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from workers.runners import ModelRunError, RunLimits, get_runner
from workers.runners import bubblewrap as bw
from workers.runners import torchscript_entry as entry
from workers.runners.base import collect_predictions
from workers.runners.podman import archive_kind
from workers.runners.supervise import TailBuffer


def test_tail_buffer_keeps_the_last_bytes_and_counts_the_rest():
    buf = TailBuffer(10)
    for chunk in (b"0123456789", b"abcdef", b"XYZ"):
        buf.write(chunk)
    assert buf.text() == "[... 9 earlier bytes of output dropped ...]\n9abcdefXYZ"


def _tar(path: Path, names: list[str]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    return path


@pytest.mark.parametrize(("names", "kind"), [
    (["blob/layer.tar", "manifest.json"], "image-archive"),
    (["oci-layout", "index.json"], "image-archive"),
    (["./bin/sh", "./entrypoint"], "rootfs"),
])
def test_archive_kind(tmp_path, names, kind):
    assert archive_kind(_tar(tmp_path / "a.tar", names)) == kind


def test_archive_kind_rejects_other_uploads(tmp_path):
    with pytest.raises(ModelRunError, match="neither an image archive"):
        archive_kind(_tar(tmp_path / "a.tar", ["bin/sh"]))
    (tmp_path / "b.tar").write_bytes(b"not a tar")
    with pytest.raises(ModelRunError, match="not a readable tar archive"):
        archive_kind(tmp_path / "b.tar")


def test_collect_predictions_rejects_links_and_reports_missing_files(tmp_path):
    limits = RunLimits(output_bytes=1000)
    (tmp_path / "other.txt").write_text("x")
    (tmp_path / "aGVsZC1vdXQ=").write_text("x")  # a name can carry held-out data: counted, never quoted
    with pytest.raises(ModelRunError, match=r"did not write /output/predictions.npz \(2 other file\(s\) found\)"):
        collect_predictions(tmp_path, limits)
    os.symlink("/etc/passwd", tmp_path / "predictions.npz")  # must never make the worker read host files
    with pytest.raises(ModelRunError, match="must be a regular file"):
        collect_predictions(tmp_path, limits)
    (tmp_path / "predictions.npz").unlink()
    (tmp_path / "predictions.npz").write_bytes(b"\0" * 2000)
    with pytest.raises(ModelRunError, match="exceeded the limit of 1000 B"):
        collect_predictions(tmp_path, limits)


def test_run_limits_validate():
    with pytest.raises(ValueError, match="time_s must be positive"):
        RunLimits(time_s=0)


def test_unknown_runner_kind():
    with pytest.raises(ValueError, match="unknown model runner kind 'wasm'"):
        get_runner("wasm")


def test_entry_script_protocol_constants_match_the_host_side():
    assert bw.MEMORY_ERROR == entry.MEMORY_ERROR
    assert set(bw.STATUS_MESSAGES) | {bw.MEMORY_ERROR} == set(entry.STATUS_CODES)
    assert set(bw.KNOWN_OUTPUTS) == set(entry.PARAM_SHAPES) | set(entry.OPTIONAL_SHAPES)
    assert bw.ENTRY_SCRIPT == Path(entry.__file__).resolve()


@pytest.mark.parametrize(("raw", "message"), [
    (b'{"code": "bad_shape", "key": "betas"}\n', "output 'betas' has the wrong number of values for the batch"),
    (b'{"code": "bad_shape", "key": "aGVsZC1vdXQ="}\n', "output '?' has the wrong number of values for the batch"),
    (b'{"code": "memory"}', "memory"),
    (b'{"code": "my own words"}', None),
    (b"EHPS-RUNNER-ERROR: my own words", None),
    (b"", None),
])
def test_status_pipe_maps_codes_to_our_messages_only(raw, message):
    """Whatever arrives on the status pipe, the owner reads only our table's text (never a model's words)."""
    assert bw.status_message(raw) == message


def test_crop_box_widens_to_the_input_aspect_and_scales():
    x0, y0, x1, y1 = entry.crop_box((10, 20, 30, 200))  # tall box: width follows height
    assert (x1 - x0) / (y1 - y0) == pytest.approx(192 / 256)
    assert y1 - y0 == pytest.approx(200 * 1.25)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((25, 120))


def test_load_crop_returns_the_box_region_resized(tmp_path):
    img = np.zeros((100, 100, 3), np.uint8)
    img[:, 50:] = 255  # right half white
    Image.fromarray(img).save(tmp_path / "a.png")
    crop = entry.load_crop(tmp_path / "a.png", (50, 0, 50, 100))  # box on the white half
    assert crop.shape == (256, 192, 3)
    assert crop[128, 96].tolist() == [255, 255, 255]


def test_reshape_outputs_checks_sizes():
    import torch

    out = entry.reshape_outputs({"body_pose": torch.zeros(2, 63)}, 2)
    assert out["body_pose"].shape == (2, 21, 3)
    with pytest.raises(entry.RunnerError, match=r"output 'betas' has shape \(2, 9\); expected \(2, 10\)") as exc:
        entry.reshape_outputs({"betas": torch.zeros(2, 9)}, 2)
    assert (exc.value.code, exc.value.key) == ("bad_shape", "betas")
    with pytest.raises(entry.RunnerError, match="unknown outputs"):
        entry.reshape_outputs({"pose": torch.zeros(2, 3)}, 2)


def test_entry_rejects_images_outside_input(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"samples": [{"sample_id": "a", "image": "../secret.png", "bbox_xywh": [0, 0, 1, 1]}]}))
    with pytest.raises(entry.RunnerError, match="leaves /input"):
        entry.load_samples(tmp_path)
