import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from leaderboard.benchmarks.demo import create_demo_benchmarks
from leaderboard.benchmarks.humandata import convert_humandata, hand_means
from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import public_sample_ids, public_sample_splits
from leaderboard.submissions.uploads import stage_upload


def test_import_benchmark_command_writes_private_gt_and_public_ids(db, tmp_path):
    from evaluator.demo import make_demo_benchmark

    gt_path, _ = make_demo_benchmark(tmp_path, num_samples=20, seed=3)
    call_command("import_benchmark", "--slug", "cmd-bench", "--name", "Cmd", "--gt", str(gt_path),
                 "--primary-metric", "mpjpe_body", "--hidden-splits", "test", "--no-hand-mpe", stdout=io.StringIO())
    b = Benchmark.objects.get(slug="cmd-bench")
    stored = Path(settings.PRIVATE_STORAGE_ROOT) / b.gt_path
    assert stored.read_bytes() == gt_path.read_bytes() and len(b.gt_sha256) == 64
    assert b.primary_metric == "mpjpe_body" and not b.counts_toward_hand_mpe and b.num_samples == 20
    splits = {s.name: s for s in b.splits.all()}
    assert not splits["test"].is_revealed and splits["dev"].is_revealed and splits["dev"].is_ranking
    with np.load(gt_path) as gt:
        assert list(public_sample_ids(b)) == list(gt["sample_ids"])
        assert list(public_sample_splits(b)) == list(gt["splits"])
    assert splits["dev"].num_samples + splits["test"].num_samples == 20


def test_import_refuses_bad_gt_and_options(db, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, sample_ids=np.array(["a"]), betas=np.zeros((1, 10)))
    with pytest.raises(CommandError, match="missing keys"):
        call_command("import_benchmark", "--slug", "bad", "--name", "Bad", "--gt", str(bad))
    assert not Benchmark.objects.filter(slug="bad").exists()
    with pytest.raises(CommandError, match="Unknown primary metric"):
        call_command("import_benchmark", "--slug", "bad", "--name", "Bad", "--gt", str(bad), "--primary-metric", "nope")


def _humandata(path: Path, flat_hand_mean: bool) -> dict:
    rng = np.random.default_rng(0)
    n = 4
    smplx = {
        "global_orient": rng.normal(size=(n, 3)), "body_pose": rng.normal(size=(n, 21, 3)),
        "left_hand_pose": rng.normal(size=(n, 15, 3)), "right_hand_pose": rng.normal(size=(n, 15, 3)),
        "betas": rng.normal(size=(n, 10)), "betas_neutral": rng.normal(size=(n, 11)),
        "expression": rng.normal(size=(n, 10)), "transl": rng.normal(size=(n, 3)),
    }  # no jaw_pose: must become zeros
    smplx["betas_neutral"][2, 4] = 3.5  # |beta| > 3: the whole row is zeroed
    np.savez(path, image_path=np.array([f"img/{i}.jpg" for i in range(n)]), smplx=np.array(smplx, dtype=object),
             misc=np.array({"flat_hand_mean": flat_hand_mean}, dtype=object))
    return smplx


@pytest.mark.parametrize("flat", [False, True])
def test_humandata_conversion_follows_smplerx_preprocessing(tmp_path, smplx_model_dir, flat):
    from evaluator.formats import load_sample_set

    smplx = _humandata(tmp_path / "hd.npz", flat)
    assert convert_humandata(tmp_path / "hd.npz", tmp_path / "gt.npz", smplx_model_dir) == 4
    gt = load_sample_set(tmp_path / "gt.npz", role="gt")
    assert gt.sample_ids.tolist() == [f"img/{i}.jpg#{i}" for i in range(4)]
    betas = gt.arrays["betas"]
    np.testing.assert_allclose(betas[[0, 1, 3]], smplx["betas_neutral"][[0, 1, 3], :10], rtol=1e-6)
    assert not betas[2].any()
    assert not gt.arrays["jaw_pose"].any()
    left_mean = hand_means(smplx_model_dir)[0] if flat else 0.0
    np.testing.assert_allclose(gt.arrays["left_hand_pose"].reshape(4, 45), smplx["left_hand_pose"].reshape(4, 45) - left_mean, rtol=1e-5, atol=1e-6)


def test_demo_benchmarks_are_idempotent_and_their_examples_are_valid_uploads(db, tmp_path):
    create_demo_benchmarks(tmp_path)
    create_demo_benchmarks(tmp_path)
    slugs = list(Benchmark.objects.values_list("slug", flat=True))
    assert slugs == ["demo-agora", "demo-ehf", "demo-3dpw", "demo-ubody", "demo-images", "demo-multiperson"]
    three_dpw = Benchmark.objects.get(slug="demo-3dpw")
    assert three_dpw.primary_metric == "mpjpe_body" and not three_dpw.counts_toward_hand_mpe
    assert (three_dpw.protocol, three_dpw.gt_parts) == ("3dpw", ["body"])
    assert three_dpw.applicable_metrics() == ("mpjpe_body", "pa_mpjpe_body")
    ubody = Benchmark.objects.get(slug="demo-ubody")
    assert (ubody.protocol, ubody.gt_parts, ubody.counts_toward_hand_mpe) == ("ubody", ["body", "hands", "face"], True)
    from evaluator.protocols import get_protocol
    for benchmark in (three_dpw, ubody):  # the stored GT is in the layout the protocol reads
        gt = get_protocol(benchmark.protocol).load_gt(Path(settings.PRIVATE_STORAGE_ROOT) / benchmark.gt_path)
        assert len(gt) == benchmark.num_samples and gt.schema == get_protocol(benchmark.protocol).gt_schema
    assert three_dpw.ranking_split.name == "dev" and not three_dpw.splits.get(name="test").is_revealed
    assert Benchmark.objects.get(slug="demo-images").accepts_models
    with open(tmp_path / "all-demo-benchmarks.zip", "rb") as f:
        staged = stage_upload(f, "predictions", [])
    try:
        assert sorted(b.slug for b in staged.benchmarks) == ["demo-3dpw", "demo-agora", "demo-ehf", "demo-ubody"]
    finally:
        staged.discard()
    with zipfile.ZipFile(tmp_path / "all-demo-benchmarks.zip") as archive:
        assert sorted(archive.namelist()) == ["demo-3dpw.npz", "demo-agora.npz", "demo-ehf.npz", "demo-ubody.npz"]


def test_protocol_and_parts_are_validated_against_evaluator_protocols(db, tmp_path):
    from django.core.exceptions import ValidationError

    from evaluator.demo import make_demo_benchmark
    from leaderboard.benchmarks.services import BenchmarkImportError, BenchmarkSpec, import_ground_truth

    gt_path, _ = make_demo_benchmark(tmp_path, num_samples=6, seed=4)
    with pytest.raises(BenchmarkImportError, match="unknown protocol 'no-such'"):
        import_ground_truth(gt_path, BenchmarkSpec("p", "P", protocol="no-such"))
    with pytest.raises(BenchmarkImportError, match="unknown option"):
        import_ground_truth(gt_path, BenchmarkSpec("p", "P", protocol_options={"colour": "red"}))
    with pytest.raises(BenchmarkImportError, match="Hand MPE needs hand GT"):
        import_ground_truth(gt_path, BenchmarkSpec("p", "P", gt_parts=["body"]))
    assert not Benchmark.objects.filter(slug="p").exists()

    benchmark = import_ground_truth(gt_path, BenchmarkSpec("p", "P", protocol_options={"variant": "smplest-x"}))
    assert benchmark.gt_parts == ["body", "hands", "face"] and benchmark.protocol == "smplx-generic"
    assert "mpjpe_hand" in benchmark.applicable_metrics()
    benchmark.protocol_options = {"hand_joints": 19}
    with pytest.raises(ValidationError) as caught:
        benchmark.full_clean()
    assert "hand_joints" in str(caught.value.message_dict["protocol_options"])
    benchmark.protocol, benchmark.protocol_options = "nope", {}
    with pytest.raises(ValidationError, match="unknown protocol"):
        benchmark.full_clean()
