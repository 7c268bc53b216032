"""``python -m leaderboard.client``: the same command-line client as ``ehps`` (see ehps_client/cli.py)."""
from ehps_client.cli import main, run

__all__ = ["main"]

if __name__ == "__main__":
    run()
