"""manage.py import_benchmark --format: the published files of each benchmark, through evaluator.importers."""
from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from evaluator.protocols import get_protocol
from leaderboard.benchmarks.models import Benchmark

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("import_benchmark", *args, stdout=out)
    return out.getvalue()


def pw3d_json(path, rng) -> None:
    """A 3DPW test annotation file (COCO-style JSON with smpl_param): two people in the image, one box outside it."""
    images = [{"id": 0, "width": 1080, "height": 1920, "file_name": "image_00000.jpg", "sequence": "s"}]
    anns = [{"id": 10 + i, "image_id": 0, "bbox": [5000, 5000, 10, 10] if i == 0 else [300, 400, 300, 900],
             "smpl_param": {"pose": np.r_[np.pi, 0, 0, rng.normal(0, 0.2, 69)].tolist(),
                            "shape": rng.normal(size=10).tolist(), "trans": [0.1, 0.2, 4.0 + i],
                            "gender": ["female", "male", "female"][i]}} for i in range(3)]
    path.write_text(json.dumps({"images": images, "annotations": anns}))


def ehf_ply(path, vertices: np.ndarray) -> None:
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {len(vertices)}\nproperty float x\nproperty float y\nproperty float z\nend_header\n")
    path.write_bytes(header.encode() + vertices.astype("<f4").tobytes())


def test_3dpw_annotations_become_a_body_only_3dpw_benchmark(tmp_path):
    pw3d_json(tmp_path / "3DPW_test.json", np.random.default_rng(1))
    out = run("--slug", "pw", "--name", "3DPW", "--format", "3dpw", "--source", str(tmp_path / "3DPW_test.json"))
    benchmark = Benchmark.objects.get(slug="pw")
    assert (benchmark.protocol, benchmark.gt_parts, benchmark.primary_metric) == ("3dpw", ["body"], "mpjpe_body")
    assert not benchmark.counts_toward_hand_mpe and benchmark.num_samples == 2
    assert ("Read 3 rows from 3DPW_test.json as 3dpw; 2 samples kept (left out by the official filtering: bbox outside "
            "the image: 1)") in out
    assert f"protocol 3dpw v{get_protocol('3dpw').version}" in out and "GT parts: body" in out
    assert benchmark.splits.get().is_revealed is False  # a test split stays hidden by default


def test_ehf_registrations_with_protocol_options(tmp_path):
    rng = np.random.default_rng(2)
    for name in ("01_align.ply", "02_align.ply"):
        ehf_ply(tmp_path / name, rng.normal(size=(10475, 3)))
    out = run("--slug", "ehf", "--name", "EHF", "--format", "ehf", "--source", str(tmp_path),
              "--protocol-option", "variant=smplest-x", "--hidden-splits", "--all-public")
    benchmark = Benchmark.objects.get(slug="ehf")
    assert benchmark.protocol == "ehf" and benchmark.protocol_options == {"variant": "smplest-x"}
    assert benchmark.get_protocol().options["hand_joints"] == 20 and "variant" in out
    assert benchmark.ranking_split.name == "test"


def test_clear_errors_and_nothing_imported(tmp_path):
    pw3d_json(tmp_path / "3DPW_test.json", np.random.default_rng(3))
    source = str(tmp_path / "3DPW_test.json")
    cases = [
        (("--source", source), "--source needs --format"),
        (("--format", "3dpw", "--source", source, "--protocol", "smplx-generic"), "'smpl' layout, but protocol"),
        (("--format", "3dpw", "--source", source, "--protocol-option", "joints=elbows"), "Protocol rejected"),
        (("--format", "3dpw", "--source", source, "--format-option", "colour=red"), "takes no option"),
        (("--format", "3dpw", "--source", str(tmp_path / "missing.json")), "missing.json"),
        (("--format", "3dpw", "--source", source, "--primary-metric", "mpvpe_hand", "--protocol", "3dpw"),
         "Unknown primary metric 'mpvpe_hand' for protocol '3dpw'"),
    ]
    for args, message in cases:
        with pytest.raises(CommandError, match=message.replace("(", r"\(")):
            run("--slug", "bad", "--name", "Bad", *args)
    assert not Benchmark.objects.filter(slug="bad").exists()
