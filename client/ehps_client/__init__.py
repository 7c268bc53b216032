"""``ehps``: the command-line client of the EHPS Leaderboard API (httpx + typer; no Django).

    ehps login --url https://leaderboard.example.org      # saves the URL and your API token
    ehps submit agora.npz --benchmark agora --method "My method" --wait
"""
__all__ = ["ApiClient", "ApiError"]

from .api import ApiClient, ApiError
