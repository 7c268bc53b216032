"""``ehps``: the light client of the EHPS Leaderboard (httpx + typer + NumPy; no Django, no torch).

    ehps check agora.npz --benchmark agora                  # the upload checks, offline (ehps_client.check)
    ehps login --url https://leaderboard.example.org      # saves your API token for that server
    ehps submit agora.npz --benchmark agora --method "My method" --wait

``ehps_client.formats`` (the file checks) imports NumPy only: the server's evaluator imports it without httpx.
"""
from __future__ import annotations

from typing import Any

__all__ = ["ApiClient", "ApiError"]


def __getattr__(name: str) -> Any:  # the HTTP client on first use, so the file checks need no httpx
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'ehps_client' has no attribute {name!r}")
