"""Speed and size a submitter reports with a predictions file (issue 22 §5): stored as "reported", checked with a
clear 400 naming the field (finite, positive, bounded), refused for model submissions (they are measured)."""
from __future__ import annotations

import pytest

from leaderboard.submissions.efficiency import FigureError, check_figures, round_significant
from leaderboard.submissions.models import Efficiency, EfficiencySource, Submission


def post(client, path, **fields):
    with open(path, "rb") as f:
        return client.post("/api/v1/submissions/", {"file": f, "method_name": "m", "benchmark": "bench-a", **fields},
                           format="multipart")


def test_reported_figures_are_stored_per_benchmark_as_reported(client_for, alice, pred_file, started):
    response = post(client_for(alice), pred_file, ms_per_image="12.5", params="32008024", peak_memory_mb="2048",
                    device="NVIDIA A100 80GB", code_commit="ABCDEF1234567")
    assert response.status_code == 201, response.content
    submission = Submission.objects.get()
    (row,) = Efficiency.objects.filter(submission=submission)
    assert (row.benchmark.slug, row.source) == ("bench-a", EfficiencySource.REPORTED)
    assert (row.ms_per_image, row.params, row.peak_memory_mb, row.device) == (12.5, 32008024, 2048.0, "NVIDIA A100 80GB")
    assert submission.code_commit == "abcdef1234567"


def test_an_upload_without_figures_stores_none(client_for, alice, pred_file, started):
    assert post(client_for(alice), pred_file, ms_per_image="", device="  ").status_code == 201
    assert not Efficiency.objects.exists()


BAD = {
    "nan": ({"ms_per_image": "nan"}, "ms_per_image", "must be a finite number"),
    "inf": ({"peak_memory_mb": "inf"}, "peak_memory_mb", "must be a finite number"),
    "negative": ({"ms_per_image": "-3"}, "ms_per_image", "must be positive"),
    "zero": ({"params": "0"}, "params", "must be positive"),
    "huge": ({"params": "1e20"}, "params", "must be between 1 and 1e+13"),
    "fractional params": ({"params": "12.5"}, "params", "whole number"),
    "text": ({"ms_per_image": "fast"}, "ms_per_image", "must be a number, not 'fast'"),
    "slow": ({"ms_per_image": "4e6"}, "ms_per_image", "one hour per image"),
    "markup device": ({"device": "<script>"}, "device", "device must be 1-80 characters"),
    "bad commit": ({"code_commit": "main"}, "code_commit", "7 to 40 hexadecimal digits"),
}


def test_bad_figures_are_a_400_naming_the_field(client_for, alice, pred_file, started):
    for case, (fields, field, message) in BAD.items():  # one benchmark for every case (its set-up is the cost)
        response = post(client_for(alice), pred_file, **fields)
        assert response.status_code == 400, (case, response.content)
        assert response.json()["field"] == field and message in response.json()["detail"], (case, response.json())
    assert not Submission.objects.exists()
    started.assert_not_called()


def test_a_model_submission_cannot_report_its_speed(client_for, alice, pred_file, started):
    response = post(client_for(alice), pred_file, kind="model_archive", ms_per_image="5")
    assert response.status_code == 400 and response.json()["field"] == "ms_per_image"
    assert "measured when the server runs it" in response.json()["detail"]


def test_the_web_form_shows_the_message_under_the_field(client, alice, pred_file, started):
    client.force_login(alice)
    with open(pred_file, "rb") as f:
        response = client.post("/submit/", {"file": f, "method_name": "m", "benchmarks": ["bench-a"],
                                            "kind": "predictions", "params": "-1"})
    assert response.status_code == 400
    assert "params must be positive" in response.content.decode() and not Submission.objects.exists()


def test_model_reports_are_checked_leniently_and_rounded():
    from leaderboard.submissions.efficiency import lenient_figures

    kept, dropped = lenient_figures({"ms_per_image": 3.14159, "params": "nan", "device": "x" * 200, "junk": 1})
    assert kept == {"ms_per_image": 3.14159} and len(dropped) == 2
    assert round_significant(32_008_024) == 32_000_000 and round_significant(3.14159) == 3.14
    assert lenient_figures(["not", "a", "dict"]) == ({}, ["meta.json is not a JSON object"])
    with pytest.raises(FigureError):
        check_figures({"peak_memory_mb": True})
