"""EHPS Leaderboard evaluator (placeholder docstring, replaced below)."""
