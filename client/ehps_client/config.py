"""Where the client finds the server URL and the API token: options > environment > config file > defaults."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"
URL_ENV, TOKEN_ENV, CONFIG_ENV = "EHPS_URL", "EHPS_TOKEN", "EHPS_CONFIG"


def config_path() -> Path:
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "ehps" / "config.json"


@dataclass(frozen=True)
class Settings:
    url: str
    token: str | None
    source: str  # where the token came from, for messages


def read_config(path: Path | None = None) -> dict:
    path = path or config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the config file {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def write_config(url: str, token: str, path: Path | None = None) -> Path:
    """Save URL and token, readable by the user only (the token is a password)."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"url": url, "token": token}, f, indent=2)
    os.chmod(path, 0o600)  # an older file may have had wider permissions
    return path


def resolve(url: str | None = None, token: str | None = None) -> Settings:
    config = read_config()
    resolved_url = url or os.environ.get(URL_ENV) or config.get("url") or DEFAULT_URL
    if token:
        return Settings(resolved_url, token, "--token")
    if os.environ.get(TOKEN_ENV):
        return Settings(resolved_url, os.environ[TOKEN_ENV], TOKEN_ENV)
    return Settings(resolved_url, config.get("token"), str(config_path()) if config.get("token") else "")
