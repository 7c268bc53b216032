"""import_benchmark says everything it changed: hidden splits by name (any case), MPE / hand MPE membership with
one flag each, what a re-import did to earlier results, and where the demo benchmarks went."""
from __future__ import annotations

import io

import numpy as np
import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.models import BenchmarkResult, Status, Submission

pytestmark = pytest.mark.django_db


def _import(*args: str) -> str:
    out = io.StringIO()
    call_command("import_benchmark", *args, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def gt_files(tmp_path_factory):
    """Two GT files with the same ids: splits named as hosts name them, and one with 'dev' gone and 'test' kept."""
    from evaluator.demo import make_demo_benchmark

    tmp = tmp_path_factory.mktemp("gt")
    gt_path, _ = make_demo_benchmark(tmp / "a", num_samples=12, seed=6)
    with np.load(gt_path) as gt:
        arrays = {k: gt[k] for k in gt.files}
    names = np.array(["Test", "TEST_x", "heldout", "Dev"])[np.arange(12) % 4]
    np.savez(tmp / "named.npz", **{**arrays, "splits": names})
    np.savez(tmp / "two.npz", **{**arrays, "splits": np.where(np.arange(12) % 2 == 0, "dev", "test")})
    changed = {**arrays, "splits": np.full(12, "test"), "betas": arrays["betas"] + np.float32(0.5)}
    np.savez(tmp / "changed.npz", **changed)
    return tmp


def test_hidden_by_default_matches_any_case_and_held_out_names(gt_files):
    output = _import("--slug", "named", "--name", "Named", "--gt", str(gt_files / "named.npz"))
    revealed = dict(Split.objects.filter(benchmark__slug="named").values_list("name", "is_revealed"))
    assert revealed == {"Test": False, "TEST_x": False, "heldout": False, "Dev": True}
    assert output.count("HIDDEN") == 3


def test_a_sixth_benchmark_needs_an_explicit_mpe_flag_and_hand_mpe_follows(gt_files):
    for k in range(5):
        Benchmark.objects.create(slug=f"paper-{k}", name=f"P{k}", counts_toward_mpe=True)
    args = ("--slug", "sixth", "--name", "Sixth", "--gt", str(gt_files / "two.npz"))
    with pytest.raises(CommandError, match=r"MPE already averages 5 benchmarks \(paper-0.*Say --mpe .* or --no-mpe"):
        _import(*args)
    assert not Benchmark.objects.filter(slug="sixth").exists()
    output = _import(*args, "--no-mpe")
    sixth = Benchmark.objects.get(slug="sixth")
    assert (sixth.counts_toward_mpe, sixth.counts_toward_hand_mpe) == (False, False)  # --no-mpe and hand MPE agree
    assert "MPE: not counted (--no-mpe); hand MPE: not counted (follows MPE)" in output
    output = _import(*args, "--hand-mpe")  # re-import: MPE kept, hand MPE by its own flag
    sixth.refresh_from_db()
    assert (sixth.counts_toward_mpe, sixth.counts_toward_hand_mpe) == (False, True)
    assert "MPE: not counted (kept from the previous import); hand MPE: counts (--hand-mpe)" in output
    _import(*args, "--mpe")
    sixth.refresh_from_db()
    assert sixth.counts_toward_mpe


def test_reimport_reports_stale_results_removed_splits_and_every_score_move(gt_files):
    _import("--slug", "re", "--name", "Re", "--gt", str(gt_files / "two.npz"), "--hidden-splits", "test")
    benchmark = Benchmark.objects.get(slug="re")
    owner = User.objects.create_user("ann")
    submission = Submission.objects.create(owner=owner, method_name="FastBody", status=Status.FINISHED, is_public=True)
    for split, value in (("dev", 40.0), ("test", 50.0)):
        BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split=split, primary_value=value,
                                       metrics={"mpvpe_all": value, "mpvpe_hand": 9.0, "pa_mpvpe_hand": 4.0})
    from leaderboard.submissions.scores import recompute_scores

    recompute_scores(submission)
    submission.refresh_from_db()
    assert submission.mpe == 40.0

    output = _import("--slug", "re", "--name", "Re", "--gt", str(gt_files / "changed.npz"), "--hidden-splits", "test")
    assert "GT changed (sha256 " in output and "2 result(s) of FastBody were scored against the previous GT" in output
    assert "split dev removed by this import: 1 result(s) on it stay stored and hidden" in output
    # per submission, per metric, before -> after: MPE, and its figure on this board (ranking split dev is gone)
    assert f"#{submission.pk} FastBody: MPE 40.00 -> none; hand MPE 9.00 -> none; PA hand MPE 4.00 -> none; re board " \
           "(mpvpe_all on dev -> mpvpe_all on no revealed split) 40.00 -> none" in output
    assert BenchmarkResult.objects.filter(submission=submission, split="dev").exists()

    output = _import("--slug", "re", "--name", "Re", "--gt", str(gt_files / "changed.npz"), "--hidden-splits", "test")
    assert "GT unchanged (same sha256)" in output and "Re-scored: no stored MPE / hand MPE or board figure changed." in output


def test_fill_missing_is_humandata_only(gt_files):
    with pytest.raises(CommandError, match="--fill-missing is a humandata option"):
        _import("--slug", "x", "--name", "X", "--gt", str(gt_files / "two.npz"), "--fill-missing", "transl")


def test_humandata_import_prints_drops_fills_and_the_gt_step(tmp_path):
    rng = np.random.default_rng(3)
    n = 4
    smplx = {"global_orient": rng.normal(size=(n, 3)), "body_pose": rng.normal(size=(n, 21, 3)),
             "betas": np.r_[np.zeros((3, 10)), np.full((1, 10), 3.5)], "expression": rng.normal(size=(n, 10))}
    meta = {"annot_valid": np.array([1, 0, 1, 1])}
    np.savez(tmp_path / "hd.npz", image_path=np.array([f"i{k}.jpg" for k in range(n)]),
             smplx=np.array(smplx, dtype=object), meta=np.array(meta, dtype=object))
    args = ("--slug", "hd", "--name", "HD", "--humandata", str(tmp_path / "hd.npz"), "--no-mpe")
    with pytest.raises(CommandError, match=r"no \['transl'\]"):
        _import(*args)
    output = _import(*args, "--fill-missing", "transl")
    assert "Read 4 rows from hd.npz as humandata; 3 samples kept (left out by the official filtering: " \
           "meta.annot_valid false: 1)" in output
    assert "Changed by the official GT step: betas zeroed (|beta| > 3): 1, jaw_pose/expression zeroed" in output
    assert "Filled by default (the source lacks them): jaw_pose (zeros): 3, left_hand_pose (zeros): 3, " \
           "right_hand_pose (zeros): 3, transl (zeros): 3." in output
    assert "Note: box filter not applied" in output


def test_inputs_manifest_is_published_beside_the_ids_and_read_by_the_checker(gt_files, tmp_path, client):
    from ehps_client.check import read_sample_ids

    output = _import("--slug", "man", "--name", "Man", "--gt", str(gt_files / "two.npz"))
    assert "Public inputs manifest (inputs.json beside the sample-id list): ids only." in output
    page = client.get("/benchmarks/man/inputs.json")
    api = client.get("/api/v1/benchmarks/man/inputs/")
    assert page.status_code == api.status_code == 200 and page.content == api.content
    manifest = page.json()
    assert manifest["benchmark"] == "man" and manifest["notes"][0].startswith("ids only")
    ids = [s["id"] for s in manifest["samples"]]
    (tmp_path / "man-inputs.json").write_bytes(page.content)
    assert read_sample_ids(tmp_path / "man-inputs.json").tolist() == ids
    with np.load(io.BytesIO(client.get("/benchmarks/man/template.npz").content)) as template:
        assert template["sample_ids"].tolist() == ids  # the template lists the manifest's ids, in its order
    assert b"inputs.json" in client.get("/benchmarks/man/").content
    Benchmark.objects.filter(slug="man").update(accepts_predictions=False)  # models only: ids stay with the inputs
    assert client.get("/benchmarks/man/inputs.json").status_code == 404
    assert client.get("/api/v1/benchmarks/man/inputs/").status_code == 404
