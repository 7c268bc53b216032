"""Issue 24 (ehps, Low): redirects are not success, credentials never go to a plain-http remote host unasked, the
token file is private before the token is in it, and a token saved for one server never goes to another."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import httpx
import pytest

from ehps_client import api, cli, config


def answering(status: int, **kwargs) -> httpx.MockTransport:
    return httpx.MockTransport(lambda request: httpx.Response(status, **kwargs))


def test_a_redirect_is_not_success():
    moved = answering(302, headers={"location": "https://leaderboard.test/accounts/login/"})
    with api.ApiClient("https://leaderboard.test", "t0ken", transport=moved) as client:
        with pytest.raises(api.ApiError, match=r"redirect.*https://leaderboard.test/accounts/login/.*HTTP 302"):
            client.list()
        with pytest.raises(api.ApiError, match="HTTP 302"):
            client.obtain_token("alice", "pw")


@pytest.mark.parametrize("url", ["http://leaderboard.example.org", "http://10.0.0.7:8000"])
def test_credentials_to_a_remote_plain_http_server_are_refused_unless_insecure(url, capsys):
    ok = answering(200, json={"results": []})
    with pytest.raises(api.ApiError, match="not encrypted.*--insecure"):
        api.ApiClient(url, "t0ken", transport=ok)
    with pytest.raises(api.ApiError, match="not encrypted"):
        api.ApiClient(url, transport=ok).obtain_token("alice", "pw")
    assert api.ApiClient(url, transport=ok).leaderboard() == {"results": []}  # anonymous reads are fine
    with api.ApiClient(url, "t0ken", transport=ok, insecure=True) as client:
        assert client.list() == []
    assert "not encrypted" in capsys.readouterr().err  # --insecure still warns
    assert cli.main(["--url", url, "--token", "t0ken", "list"]) == 2
    assert "--insecure" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:9000", "http://[::1]:8000", "https://x.org"])
def test_loopback_and_https_take_credentials(url, capsys):
    with api.ApiClient(url, "t0ken", transport=answering(200, json={"results": []})) as client:
        assert client.list() == []
    assert capsys.readouterr().err == ""


def test_the_token_file_is_private_before_the_token_is_written(tmp_path, monkeypatch):
    path = tmp_path / "ehps" / "config.json"
    path.parent.mkdir()
    path.write_text("{}")
    path.chmod(0o644)  # an older, wider file
    modes = []
    real_dump = json.dump

    def spy(data, f, **kwargs):
        modes.append(stat.S_IMODE(os.fstat(f.fileno()).st_mode))
        return real_dump(data, f, **kwargs)

    monkeypatch.setattr(config.json, "dump", spy)
    config.write_config("https://a.test", "secret", path)
    assert modes == [0o600]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_tokens_are_kept_per_server(tmp_path, monkeypatch):
    path = tmp_path / "config.json"
    monkeypatch.setenv(config.CONFIG_ENV, str(path))
    config.write_config("https://a.test", "token-a")
    config.write_config("http://127.0.0.1:8000/", "token-local")
    assert config.resolve("https://a.test").token == "token-a"
    assert config.resolve("https://a.test/").token == "token-a"
    assert config.resolve("http://127.0.0.1:8000").token == "token-local"
    assert config.resolve("https://b.test").token is None  # never another server's token
    assert config.resolve().url == "http://127.0.0.1:8000"  # the last login is the default server
    # the old one-server file: its token stays with its URL
    path.write_text(json.dumps({"url": "http://127.0.0.1:8001", "token": "old"}))
    assert config.resolve("http://127.0.0.1:8001").token == "old"
    assert config.resolve("http://127.0.0.1:9999").token is None


def test_the_test_session_never_reads_the_users_config(monkeypatch):
    """tests/conftest.py points EHPS_CONFIG at a temporary file for the whole session."""
    assert os.environ.get(config.TOKEN_ENV) is None and os.environ.get(config.URL_ENV) is None
    assert Path.home() not in config.config_path().parents
    monkeypatch.delenv(config.CONFIG_ENV)
    monkeypatch.setenv("XDG_CONFIG_HOME", "/nonexistent-xdg")
    assert config.config_path() == Path("/nonexistent-xdg/ehps/config.json")
