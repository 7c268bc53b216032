"""Speed and size of a model run (issue 22 §5): the archive entry script measures them into /output/meta.json, the
host reads that file defensively, and the worker stores checked, rounded figures with the worker's own device."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

from workers.runners import torchscript_entry as entry
from workers.runners.base import MAX_META_BYTES, read_run_meta
from tests.runners.torchscript_archives import ParamsFromPixels

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.*deprecated:DeprecationWarning")


class WithWeights(ParamsFromPixels):
    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Linear(3, 3)  # 12 parameters


def test_entry_script_writes_its_measurements(tmp_path):
    inputs, output = tmp_path / "input", tmp_path / "output"
    (inputs / "images").mkdir(parents=True)
    output.mkdir()
    samples = []
    for i in range(3):
        Image.fromarray(np.full((40, 30, 3), 60 * i, np.uint8)).save(inputs / "images" / f"{i}.png")
        samples.append({"sample_id": f"s{i}", "image": f"images/{i}.png", "bbox_xywh": [2, 2, 20, 30]})
    (inputs / "manifest.json").write_text(json.dumps({"samples": samples}))
    model = tmp_path / "model.pt"
    torch.jit.save(torch.jit.script(WithWeights()), str(model))

    assert entry.run(model, inputs, output / "predictions.npz", batch_size=2, device="cpu") == 0
    meta = read_run_meta(output)
    assert meta["params"] == 12 and meta["device"] == "cpu"
    assert 0 < meta["ms_per_image"] < 60_000 and meta["peak_memory_mb"] > 10  # a Python process with torch loaded


def test_the_host_reads_only_a_small_regular_json_object(tmp_path):
    meta = tmp_path / "meta.json"
    assert read_run_meta(tmp_path) is None
    meta.write_text('{"ms_per_image": 3}')
    assert read_run_meta(tmp_path) == {"ms_per_image": 3}
    for bad in ("[1, 2]", "not json", '{"x": "' + "a" * MAX_META_BYTES + '"}'):
        meta.write_text(bad)
        assert read_run_meta(tmp_path) is None, bad[:20]
    meta.unlink()
    os.symlink("/etc/hostname", meta)  # never followed: the model must not make us read elsewhere
    assert read_run_meta(tmp_path) is None


@pytest.mark.django_db
def test_a_containers_report_is_checked_rounded_and_its_device_is_the_workers(alice):
    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions.models import Efficiency, Submission, SubmissionKind
    from workers.model_runs import StaffLog, _record_efficiency

    benchmark = Benchmark.objects.create(slug="meta-b", name="Meta", gt_path="gt/meta-b/gt.npz")
    submission = Submission.objects.create(owner=alice, method_name="c", kind=SubmissionKind.CONTAINER)
    log = StaffLog(submission.pk)
    _record_efficiency(submission, benchmark, {"ms_per_image": 12.3456, "params": 32_008_024,
                                               "device": "secret words from held-out images",
                                               "peak_memory_mb": "nan"}, log, gpu=False)
    row = Efficiency.objects.get(submission=submission)
    assert (row.source, row.ms_per_image, row.params, row.device) == ("reported", 12.3, 32_000_000, "cpu")
    assert row.peak_memory_mb is None
    submission.refresh_from_db()
    assert "meta.json figures dropped: peak_memory_mb must be a finite number" in submission.log
