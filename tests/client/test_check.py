"""The light client's offline checker (``ehps check``, ehps_client.check): the server's upload checks, NumPy only.

One implementation: the evaluator and the web's upload checks import ehps_client.formats, never a copy of it.
"""
from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest

from ehps_client import check, cli
from ehps_client import formats as client_formats

REPO_ROOT = Path(__file__).resolve().parents[2]
IDS = [f"img{i:03d}" for i in range(6)]


def predictions(ids: list[str] = IDS, **override: np.ndarray) -> bytes:
    arrays = {"sample_ids": np.array(ids), "vertices": np.zeros((len(ids), client_formats.NUM_SMPLX_VERTICES, 3), np.float32)}
    arrays.update(override)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def bundle(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def sample_ids_server(known: dict[str, list[str]], models_only: tuple[str, ...] = ()) -> httpx.MockTransport:
    """Answers ``/benchmarks/<slug>/sample_ids.txt`` as the site does (leaderboard.web.submit_help)."""
    def handle(request: httpx.Request) -> httpx.Response:
        slug = request.url.path.split("/")[2]
        if slug in models_only:
            return httpx.Response(404, text=f"Benchmark '{slug}' accepts models only; its sample ids are not published.\n",
                                  headers={"content-type": "text/plain; charset=utf-8"})
        if slug not in known:
            return httpx.Response(404, html="<h1>Not Found</h1>")
        return httpx.Response(200, text="".join(f"{i}\n" for i in known[slug]))
    return httpx.MockTransport(handle)


@pytest.fixture
def server(monkeypatch):
    transport = sample_ids_server({"bench-a": IDS, "bench-b": IDS[:3]}, models_only=("held-out",))
    monkeypatch.setattr(check, "TRANSPORT", transport)
    return "http://leaderboard.test"


def test_server_and_evaluator_use_the_clients_checks():
    from evaluator import formats as evaluator_formats
    from leaderboard.submissions import uploads

    assert evaluator_formats.load_sample_set is client_formats.load_sample_set
    assert evaluator_formats.match_samples is client_formats.match_samples
    assert evaluator_formats.FormatError is client_formats.FormatError
    assert not (REPO_ROOT / "evaluator" / "check.py").exists()
    assert "bundle_slugs" in Path(uploads.__file__).read_text()  # the server's zip-member rule is the client's


def test_the_checker_imports_neither_django_nor_torch_nor_the_evaluator():
    code = ("import sys, ehps_client.check, ehps_client.cli; "
            "heavy = sorted(m for m in ('django', 'torch', 'evaluator', 'leaderboard') if m in sys.modules); "
            "sys.exit(f'imported {heavy}' if heavy else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT / "client", capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_single_npz_against_the_benchmark(server, tmp_path):
    good = tmp_path / "bench-a.npz"
    good.write_bytes(predictions())
    reports = check.check_file(good, ["bench-a"], server=server)
    assert [(r.label, r.num_samples, r.layout, r.ok) for r in reports] == [("bench-a.npz", 6, "vertices", True)]
    short = tmp_path / "short.npz"
    short.write_bytes(predictions(IDS[1:] + ["stranger"]))
    (report,) = check.check_file(short, ["bench-a"], server=server)
    assert "missing predictions for sample ids 'img000'" in report.problems[0]
    assert "unknown sample ids 'stranger'" in report.problems[0]


def test_the_multi_benchmark_zip_the_site_accepts(server, tmp_path):
    path = bundle(tmp_path / "all.zip", {"bench-a.npz": predictions(), "bench-b.npz": predictions(IDS[:3])})
    reports = check.check_file(path, [], server=server)
    assert [(r.label, r.num_samples, r.ok) for r in reports] == [("all.zip/bench-a.npz", 6, True),
                                                                 ("all.zip/bench-b.npz", 3, True)]
    nan = predictions(IDS[:3], vertices=np.full((3, client_formats.NUM_SMPLX_VERTICES, 3), np.nan, np.float32))
    path = bundle(tmp_path / "bad.zip", {"bench-a.npz": predictions(), "bench-b.npz": nan})
    assert [r.ok for r in check.check_file(path, [], server=server)] == [True, False]
    # the site's member rules: no folders, only <benchmark slug>.npz
    with pytest.raises(check.CheckError, match="unexpected member 'preds/bench-a.npz'"):
        check.check_file(bundle(tmp_path / "deep.zip", {"preds/bench-a.npz": predictions()}), [], server=server)
    # --benchmark and the members must agree, as on the site
    with pytest.raises(check.CheckError, match="holds predictions for bench-a, bench-b but you named bench-a"):
        check.check_file(tmp_path / "all.zip", ["bench-a"], server=server)


def test_an_unknown_benchmark_is_named_as_such(server, tmp_path, capsys):
    path = tmp_path / "p.npz"
    path.write_bytes(predictions())
    with pytest.raises(check.CheckError, match="benchmark 'nope' does not exist on http://leaderboard.test"):
        check.check_file(path, ["nope"], server=server)
    with pytest.raises(check.CheckError, match="accepts models only"):
        check.check_file(path, ["held-out"], server=server)
    assert cli.main(["check", str(path), "--benchmark", "nope", "--url", server]) == 2
    assert "benchmark 'nope' does not exist" in capsys.readouterr().err


def test_ehps_check_command(server, tmp_path, capsys, monkeypatch):
    path = bundle(tmp_path / "all.zip", {"bench-a.npz": predictions(), "bench-b.npz": predictions(IDS[:2])})
    assert cli.main(["check", str(path), "--url", server]) == 1
    captured = capsys.readouterr()
    assert "OK: all.zip/bench-a.npz holds 6 samples as vertices, all 6 benchmark ids present" in captured.out
    assert "all.zip/bench-b.npz: missing predictions for sample ids 'img002'" in captured.err
    # the page's download next to the file: no server needed
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bench-b-sample_ids.txt").write_text("img000\nimg001\n")
    assert cli.main(["check", path.name, "--url", "http://127.0.0.1:9"]) == 0
    assert "all.zip/bench-b.npz holds 2 samples" in capsys.readouterr().out
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join(IDS) + "\n")
    (tmp_path / "one.npz").write_bytes(predictions())
    assert cli.main(["check", "one.npz", "--sample-ids", str(ids)]) == 0
    assert cli.main(["check", "one.npz"]) == 0 and "ids not checked" in capsys.readouterr().out
