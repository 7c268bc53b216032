"""The ``ehps`` command-line client (ehps_client) against a live server; evaluation itself is mocked out here
(tests/e2e/test_researcher_journey.py runs it against gunicorn and a real worker)."""
from __future__ import annotations

import io
import json
import shutil
import stat
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from rest_framework.authtoken.models import Token

from ehps_client import cli
from leaderboard import client as legacy
from leaderboard.submissions.models import BenchmarkResult, Status, Submission

REPO_ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def isolated_config(tmp_path, monkeypatch) -> Path:
    """No real config file or environment token leaks into (or out of) a test."""
    path = tmp_path / "ehps-config.json"
    monkeypatch.setenv("EHPS_CONFIG", str(path))
    monkeypatch.delenv("EHPS_TOKEN", raising=False)
    monkeypatch.delenv("EHPS_URL", raising=False)
    return path


@pytest.fixture(autouse=True)
def remove_stored_uploads():
    """Live-server tests commit real uploads; remove them so later tests see the storage as they expect."""
    from django.conf import settings

    root = Path(settings.PRIVATE_STORAGE_ROOT) / "uploads"
    before = set(root.iterdir()) if root.exists() else set()
    yield
    for path in (set(root.iterdir()) if root.exists() else set()) - before:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def token(alice) -> str:
    return Token.objects.create(user=alice).key


def finish(submission: Submission, benchmark, mpe: float = 12.5) -> None:
    Submission.objects.filter(pk=submission.pk).update(status=Status.FINISHED, mpe=mpe)
    BenchmarkResult.objects.create(submission=submission, benchmark=benchmark, split="test",
                                   metrics={"mpvpe_all": mpe, "pa_mpvpe_all": mpe / 2}, primary_value=mpe, num_samples=12)


def test_pyproject_installs_the_ehps_command():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["ehps"] == "ehps_client.cli:run"
    assert "ehps_client*" in project["tool"]["setuptools"]["packages"]["find"]["include"]


def test_client_needs_no_django():
    code = "import sys, ehps_client.cli; sys.exit('django' in sys.modules or 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT).returncode == 0


def test_legacy_module_is_the_same_cli_with_the_old_spelling(live_server, bench, pred_file, token, started, capsys):
    """``python -m leaderboard.client --url U --token T submit --file F ...`` (the old client's syntax) still works."""
    code = legacy.main(["--url", live_server.url, "--token", token, "submit", "--benchmark", "bench-a",
                        "--file", str(pred_file), "--method", "CLI method"])
    assert code == 0, capsys.readouterr()
    submission = Submission.objects.get()
    assert submission.method_name == "CLI method" and started.call_count == 1
    assert f"submitted {submission.uuid} (bench-a)" in capsys.readouterr().out
    finish(submission, bench[0])
    assert legacy.main(["status", str(submission.uuid), "--url", live_server.url, "--token", token]) == 0
    out = capsys.readouterr().out
    assert "MPE: 12.50 mm" in out and "mpvpe_all *" in out and "bench-a / test (12 samples)" in out


def test_submit_streams_the_file_with_progress(live_server, bench, pred_file, token, started, monkeypatch, capsys):
    monkeypatch.setenv("EHPS_TOKEN", token)
    monkeypatch.setenv("EHPS_URL", live_server.url)
    seen: list[int] = []
    real_submit = cli.ApiClient.submit

    def spy(self, *args, on_progress=None, **kwargs):
        return real_submit(self, *args, on_progress=lambda n: (seen.append(n), on_progress(n)), **kwargs)

    monkeypatch.setattr(cli.ApiClient, "submit", spy)
    assert cli.main(["submit", str(pred_file), "-b", "bench-a", "-m", "Streamed", "--paper-url", "https://example.org/p",
                     "--ms-per-image", "12.5", "--params", "32008024", "--device", "cpu", "--code-commit", "abcdef1"]) == 0
    submission = Submission.objects.get()
    assert sum(seen) == pred_file.stat().st_size and len(seen) >= 1
    assert submission.upload_size == pred_file.stat().st_size and submission.paper_url == "https://example.org/p"
    figures = submission.efficiency.get()  # shown as reported (issue 22 §5)
    assert (figures.source, figures.ms_per_image, figures.params, figures.device) == ("reported", 12.5, 32008024, "cpu")
    assert submission.code_commit == "abcdef1"


def test_large_upload_is_sent_in_chunks_not_read_whole(live_server, bench, token, tmp_path, monkeypatch):
    big = tmp_path / "big.npz"
    big.write_bytes(np.random.default_rng(0).bytes(3 * 1024 * 1024))
    reads: list[int] = []
    original = cli.ApiClient.submit

    def spy(self, *args, on_progress=None, **kwargs):
        return original(self, *args, on_progress=lambda n: (reads.append(n), on_progress(n)), **kwargs)

    monkeypatch.setattr(cli.ApiClient, "submit", spy)
    assert cli.main(["--url", live_server.url, "--token", token, "submit", str(big), "-b", "bench-a", "-m", "x"]) == 2
    assert sum(reads) == big.stat().st_size and len(reads) > 10 and max(reads) <= 1 << 16


def test_login_with_password_saves_a_private_config_used_later(live_server, alice, isolated_config, monkeypatch, capsys):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "pw-alice-123")
    assert cli.main(["login", "--url", live_server.url, "--username", "alice"]) == 0
    saved = json.loads(isolated_config.read_text())
    assert saved == {"url": live_server.url, "servers": {live_server.url: Token.objects.get(user=alice).key}}
    assert stat.S_IMODE(isolated_config.stat().st_mode) == 0o600
    assert cli.main(["list"]) == 0  # URL and token from the config file
    assert "no submissions yet" in capsys.readouterr().out
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "wrong")
    assert cli.main(["login", "--url", live_server.url, "--username", "alice"]) == 2
    assert "wrong username or password" in capsys.readouterr().err


def test_login_without_a_terminal(live_server, alice, isolated_config, monkeypatch, capsys):
    """Scripts and CI log in with --password-stdin or --token; nothing prompts."""
    monkeypatch.setattr("getpass.getpass", lambda prompt="": pytest.fail("prompted for a password"))
    monkeypatch.setattr("sys.stdin", io.StringIO("pw-alice-123\n"))
    assert cli.main(["login", "--url", live_server.url, "--username", "alice", "--password-stdin"]) == 0
    key = Token.objects.get(user=alice).key
    assert json.loads(isolated_config.read_text())["servers"] == {live_server.url: key}
    assert cli.main(["login", "--url", live_server.url, "--password-stdin"]) == 2
    assert "--password-stdin needs --username" in capsys.readouterr().err
    isolated_config.unlink()
    assert cli.main(["login", "--url", live_server.url, "--token", key]) == 0
    assert cli.main(["list"]) == 0
    # the token saved for this server never goes to another one (issue 24: a 401 there, or a leaked token)
    assert cli.main(["--url", "http://127.0.0.1:9", "list"]) == 2
    assert "no API token for http://127.0.0.1:9" in capsys.readouterr().err


def test_readable_errors(live_server, alice, bob, bench, tmp_path, token, started, capsys):
    private = Submission.objects.create(owner=bob, method_name="Bob's")
    assert cli.main(["--url", live_server.url, "--token", token, "status", str(private.uuid)]) == 2
    assert "not found or not yours" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    assert cli.main(["--url", live_server.url, "--token", token, "submit", str(bad), "-b", "bench-a", "-m", "x"]) == 2
    assert "bad.npz: not an .npz or .zip file" in capsys.readouterr().err
    assert cli.main(["--url", live_server.url, "--token", token, "submit", str(bad), "-b", "bench-a", "-m", "x",
                     "--ms-per-image", "-1"]) == 2
    assert "ms_per_image must be positive" in capsys.readouterr().err
    assert cli.main(["--url", live_server.url, "--token", "wrong", "submit", str(bad), "-b", "bench-a", "-m", "x"]) == 2
    message = capsys.readouterr().err
    assert "not authenticated" in message and "ehps login" in message
    assert cli.main(["--url", live_server.url, "list"]) == 2
    assert "no API token" in capsys.readouterr().err
    assert cli.main(["--url", "http://127.0.0.1:9", "--token", token, "list"]) == 2
    assert "cannot reach http://127.0.0.1:9" in capsys.readouterr().err
    assert cli.main(["--url", live_server.url, "--token", token, "submit", str(tmp_path / "nope.npz"), "-m", "x"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_list_publish_leaderboard_and_download(live_server, alice, bench, token, tmp_path, capsys):
    submission = Submission.objects.create(owner=alice, method_name="Mine")
    submission.benchmarks.add(bench[0])
    finish(submission, bench[0], mpe=33.3)
    base = ["--url", live_server.url, "--token", token]
    assert cli.main([*base, "list"]) == 0
    listed = capsys.readouterr().out
    assert "Mine" in listed and "finished" in listed
    assert cli.main([*base, "publish", str(submission.uuid)]) == 0
    assert Submission.objects.get().is_public and "published" in capsys.readouterr().out
    assert cli.main([*base, "leaderboard", "bench-a"]) == 0
    table = capsys.readouterr().out
    assert "Mine" in table and "33.3" in table
    assert cli.main(["--url", live_server.url, "leaderboard", "--csv"]) == 0  # public: no token needed
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("rank,method") and any("Mine" in line for line in lines[1:])
    assert cli.main([*base, "download", str(submission.uuid), "--out", str(tmp_path / "dl")]) == 0
    saved = json.loads((tmp_path / "dl" / f"results-{submission.uuid}.json").read_text())
    assert saved["mpe"] == pytest.approx(33.3) and saved["results"][0]["benchmark"] == "bench-a"
    assert "no per-sample errors" in capsys.readouterr().err  # none stored for a hand-made result: said, not a failure
    assert cli.main([*base, "publish", "--unpublish", str(submission.uuid)]) == 0
    assert not Submission.objects.get().is_public


def test_status_wait_follows_until_final(live_server, alice, bench, token, capsys):
    submission = Submission.objects.create(owner=alice, method_name="Waiting", status=Status.RUNNING,
                                           progress_done=1, progress_total=2)

    def later() -> None:
        time.sleep(1.0)
        finish(submission, bench[0], mpe=20.0)

    thread = threading.Thread(target=later)
    thread.start()
    try:
        code = cli.main(["--url", live_server.url, "--token", token, "status", str(submission.uuid), "--wait", "--interval", "0.2"])
    finally:
        thread.join()
    captured = capsys.readouterr()
    assert code == 0 and "running" in captured.err and "finished" in captured.err
    assert "MPE: 20.00 mm" in captured.out
    Submission.objects.filter(pk=submission.pk).update(status=Status.FAILED, error_message="bad")
    assert cli.main(["--url", live_server.url, "--token", token, "status", str(submission.uuid)]) == 1
