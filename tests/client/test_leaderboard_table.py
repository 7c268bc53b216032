"""``ehps leaderboard`` as a researcher reads it in a terminal: 80 columns, computed and reported rows labelled."""
from __future__ import annotations

import functools

import httpx
import pytest
from rich.console import Console

from ehps_client import cli
from ehps_client.api import ApiClient

SLUGS = ["agora", "ehf", "ubody", "3dpw", "arctic-hands", "bedlam", "demo-ehf", "demo-agora-hands"]
COMPUTED = "Computed here: MPE on agora/test, ehf/test, ubody/test"
REPORTED = "Reported in papers: MPE on agora/test, ehf/test, ubody/test"


def row(rank: int, name: str, section: str, baseline: str | None) -> dict:
    return {"rank": rank, "method_name": name, "coverage": section, "comparable_group": section[:8], "baseline": baseline,
            "citation": "A. Author et al., A Very Long Paper Title About Whole-Body Meshes, CVPR 2025" if baseline else "",
            "mpe": 101.25 + rank, "hand_mpe": 40.5, "pa_hand_mpe": 10.0,
            "primary": {slug: 123.456 + rank for slug in SLUGS}}


OVERALL = {
    "benchmarks": [{"slug": slug, "name": slug.upper()} for slug in SLUGS],
    "rows": [row(1, "SMPLest-X-H40 with every trick in the book and a very long name", COMPUTED, None),
             row(2, "Mine", COMPUTED, None),
             row(1, "SMPLer-X-H32 (paper figures)", REPORTED, "reported")],
}
METRICS = ["mpvpe_all", "pa_mpvpe_all", "mpvpe_hands", "pa_mpvpe_hands", "mpvpe_face", "pa_mpvpe_face",
           "mpjpe_body", "pa_mpjpe_body", "mpjpe_hands", "pa_mpjpe_hands"]
BENCHMARK = {
    "benchmark": {"slug": "agora", "name": "AGORA", "primary_metric": "mpvpe_all"}, "split": "test", "metrics": METRICS,
    "rows": [{**row(1, "SMPLest-X-H40", COMPUTED.replace("MPE", "MPVPE"), None), "metrics": dict.fromkeys(METRICS, 1234.5)},
             {**row(1, "SMPLer-X (paper)", REPORTED.replace("MPE", "MPVPE"), "reported"),
              "metrics": dict.fromkeys(METRICS, 99.0)}],
}


@pytest.fixture
def board(monkeypatch):
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=BENCHMARK if request.url.path.endswith("/agora/") else OVERALL)
    monkeypatch.setattr(cli, "ApiClient", functools.partial(ApiClient, transport=httpx.MockTransport(answer)))
    monkeypatch.setattr(cli, "out", Console(width=80))  # a terminal 80 columns wide (and rich's width for a pipe)


@pytest.mark.parametrize("args", [["leaderboard"], ["leaderboard", "agora"]])
def test_fits_80_columns_and_labels_the_sections(board, args, capsys):
    assert cli.main(["--url", "https://leaderboard.test", *args]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(map(len, lines)) <= 80, "\n".join(lines)
    computed = next(i for i, line in enumerate(lines) if line.startswith("Computed here:"))
    reported = next(i for i, line in enumerate(lines) if line.startswith("Reported in papers:"))
    assert computed < reported
    assert any("SMPLest-X" in line for line in lines[computed:reported])
    assert any("SMPLer-X" in line for line in lines[reported:])
    assert any(line.startswith("not shown") for line in lines)  # what did not fit is named, with the way to see it


def test_the_overall_board_keeps_the_scores_and_names_what_it_left_out(board, capsys):
    assert cli.main(["--url", "https://leaderboard.test", "leaderboard"]) == 0
    text = capsys.readouterr().out
    header = next(line for line in text.splitlines() if line.lstrip().startswith("#"))
    assert "MPE" in header and "hand MPE" in header and "agora" in header
    assert "102.2" in text  # rank 1's MPE
    note = text[text.index("not shown"):]
    assert "demo-agora-hands" in note and "--csv" in note
