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


def server_key(url: str) -> str:
    """The form a server URL is stored under: no trailing slash, scheme and host in lower case."""
    scheme, sep, rest = url.strip().rstrip("/").partition("://")
    host, slash, path = rest.partition("/")
    return f"{scheme.lower()}{sep}{host.lower()}{slash}{path}"


def read_config(path: Path | None = None) -> dict:
    path = path or config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the config file {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def saved_tokens(data: dict) -> dict[str, str]:
    """Server URL -> token. The file of older clients held one ``url`` and its ``token``: that pair is kept."""
    servers = data.get("servers")
    tokens = {server_key(k): v for k, v in servers.items() if isinstance(v, str)} if isinstance(servers, dict) else {}
    if isinstance(data.get("url"), str) and isinstance(data.get("token"), str):
        tokens.setdefault(server_key(data["url"]), data["token"])
    return tokens


def write_config(url: str, token: str, path: Path | None = None) -> Path:
    """Save ``token`` for server ``url`` (the other servers' tokens stay) and make ``url`` the default server.

    The token is a password: the new file is created mode 600 before anything is written to it, then renamed over
    the old one (whose mode may have been wider).
    """
    path = path or config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tokens = saved_tokens(read_config(path)) | {server_key(url): token}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump({"url": server_key(url), "servers": tokens}, f, indent=2)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def resolve(url: str | None = None, token: str | None = None) -> Settings:
    """The server (option > $EHPS_URL > the last login > the default) and the token for that server only."""
    config = read_config()
    default = config.get("url") if isinstance(config.get("url"), str) else None
    resolved_url = server_key(url or os.environ.get(URL_ENV) or default or DEFAULT_URL)
    if token:
        return Settings(resolved_url, token, "--token")
    if os.environ.get(TOKEN_ENV):
        return Settings(resolved_url, os.environ[TOKEN_ENV], TOKEN_ENV)
    saved = saved_tokens(config).get(resolved_url)
    return Settings(resolved_url, saved, str(config_path()) if saved else "")
