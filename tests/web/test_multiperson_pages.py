"""Pages of a multi-person benchmark: P/R/F1 and NMVE/NMJE columns, the kids row, three breakdown plots, the how-to for
the people npz; a hidden split's figures never shown; the overall page says the benchmark is outside MPE."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import numpy as np
import pytest
from django.test import Client

from leaderboard.benchmarks.testing import make_multiperson_benchmark, write_npz
from leaderboard.storage import PRIVATE, put_file
from leaderboard.submissions.models import BenchmarkResult, Status, Submission
from workers import pipeline, tasks  # noqa: F401  (tasks: registered for eager runs)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def scored(eager, settings, alice):
    """A published submission scored on a multi-person benchmark with a revealed 'val' and a hidden 'test' split."""
    settings.EVAL_CHUNK_SIZE = 4
    benchmark, _, pred = make_multiperson_benchmark("multi", images=8, seed=7, splits=("val", "test"),
                                                    hidden_splits=["test"], ranking_split="val")
    submission = Submission.objects.create(owner=alice, method_name="Detector X", is_public=True)
    submission.benchmarks.set([benchmark])
    with tempfile.TemporaryDirectory() as tmp:
        put_file(PRIVATE, submission.predictions_name("multi"), write_npz(Path(tmp) / "p.npz", pred))
    pipeline.start_evaluation(submission.pk)
    submission.refresh_from_db()
    assert submission.status == Status.FINISHED, submission.error_message
    return benchmark, submission


def figure(value: float, digits: int) -> str:
    return f"{value:.{digits}f}"


def test_benchmark_page_columns_breakdowns_and_how_to(scored):
    benchmark, submission = scored
    val = BenchmarkResult.objects.get(submission=submission, split="val").metrics
    test = BenchmarkResult.objects.get(submission=submission, split="test").metrics
    page = Client().get("/benchmarks/multi/").content.decode()
    for label in ("Precision", "Recall", "F1", "FB-NMVE", "FB-NMJE", "NMVE (body)", "F1 (kids)"):
        assert f">{label}<" in page, label
    assert "higher is better" in page and figure(val["fb_nmve"], 1) in page and figure(val["f1"], 2) in page
    plots = re.findall(r'<svg class="chart breakdown"', page)
    assert len(plots) == 3 and "Detector X" in page.split("data-breakdowns")[1]
    assert "ehps convert-agora predictions.zip -o multi.npz" in page and "<code>image_ids</code>" in page
    assert "Images</dt><dd>8<" in page and "Primary metric</dt><dd>FB-NMVE" in page
    # the hidden split: not a tab for visitors, and its rows never rendered
    hidden = Client().get("/benchmarks/multi/?split=test").content.decode()
    if test["fb_nmve"] != val["fb_nmve"]:
        assert f">{figure(test['fb_nmve'], 1)}<" not in hidden.split("table-card")[1].split("</table>")[0]
    assert Client().get("/benchmarks/multi/template.npz").status_code == 404


def test_submission_page_subsets_and_breakdowns_of_revealed_splits_only(scored, alice):
    _, submission = scored
    client = Client()
    client.force_login(alice)
    page = client.get(f"/submissions/{submission.uuid}/").content.decode()
    assert "split val" in page and "split test" not in page  # the hidden split's P/R/F1, errors, breakdowns: none
    assert page.count("data-subsets") == 1 and ">Kids<" in page and ">All people<" in page
    # P/R/F1 rounded as printed officially, the unrounded figure beside it (issue 19): all people and kids
    val = BenchmarkResult.objects.get(submission=submission, split="val").metrics
    table = page.split("data-subsets")[1].split("</table>")[0]
    for key in ("precision", "recall", "f1", "kid_recall", "kid_f1"):
        raw = val[f"{key}_raw"]
        cell = f'title="unrounded: {raw!r}" data-raw="{raw!r}">{val[key]:.2f}<span class="raw">{raw:.4f}</span></td>'
        assert cell in table, key
    assert f'title="unrounded: {val["fb_nmve_raw"]!r}"' in table  # errors: every digit on hover
    assert page.count('<svg class="chart breakdown"') == 3
    assert "Where does it fail" not in page  # no per-sample rows for whole images
    assert client.get(f"/submissions/{submission.uuid}/failures/multi/").status_code == 404
    assert client.get(f"/submissions/{submission.uuid}/per-sample/multi.csv").status_code == 404


def test_overall_page_says_the_benchmark_is_outside_mpe(scored):
    page = Client().get("/").content.decode()
    assert "data-outside-mpe" in page and "Not part of MPE or hand MPE" in page and "FB-NMVE" in page


def test_offline_check_requires_what_a_bedlam_benchmark_requires(tmp_path, capsys):
    """The inputs manifest of a BEDLAM-variant benchmark names the keys it needs beyond the people layout
    (vertices, 3D joints), so `ehps check --sample-ids <slug>-inputs.json` refuses, offline, what the site refuses."""
    from ehps_client import cli

    from leaderboard.benchmarks.testing import gt_as_prediction

    benchmark, gt, _ = make_multiperson_benchmark("bedlam-mp", images=4, seed=3,
                                                  protocol_options={"variant": "bedlam"})
    agora, _, _ = make_multiperson_benchmark("agora-mp", images=4, seed=3)
    pred = gt_as_prediction(gt, np.arange(len(gt["image_ids"])))
    without = {k: v for k, v in pred.items() if k != "joints3d"}
    files = {name: write_npz(tmp_path / f"{name}.npz", arrays) for name, arrays in (("full", pred), ("no3d", without))}
    for slug in ("bedlam-mp", "agora-mp"):
        (tmp_path / f"{slug}-inputs.json").write_bytes(Client().get(f"/benchmarks/{slug}/inputs.json").content)

    def offline(name: str, slug: str) -> int:
        return cli.main(["check", str(files[name]), "--sample-ids", str(tmp_path / f"{slug}-inputs.json")])

    assert offline("full", "bedlam-mp") == 0 and offline("no3d", "agora-mp") == 0  # AGORA takes SMPL-X joints
    capsys.readouterr()
    assert offline("no3d", "bedlam-mp") == 1
    refused = capsys.readouterr().err
    assert "missing 'joints3d' (" in refused and "this benchmark needs it" in refused
    # the server refuses the same file with the same words; the AGORA benchmark takes it
    with pytest.raises(ValueError, match=r"missing 'joints3d' \(\d+, 127, 3\): this benchmark needs it"):
        benchmark.get_protocol().check_prediction_file(files["no3d"], np.unique(gt["image_ids"]), "no3d.npz")
    assert agora.get_protocol().check_prediction_file(files["no3d"], np.unique(gt["image_ids"]), "no3d.npz") == len(without["image_ids"])
