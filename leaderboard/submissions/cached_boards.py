"""Board reads cached under the leaderboard version: a page of rows with the total, and where each row sits.

Above both ``board_cache`` (the version token and the cache) and ``leaderboard`` (the queries), so neither
imports the other.
"""
from __future__ import annotations

from dataclasses import dataclass

from leaderboard.submissions import leaderboard
from leaderboard.submissions.board_cache import Version, cached
from leaderboard.submissions.leaderboard import Board, Position, Row


@dataclass(frozen=True)
class Slice:
    count: int
    offset: int
    limit: int
    rows: list[Row]


def board_slice(version: Version, board: Board, offset: int, limit: int, keep: bool = True) -> Slice:
    """Rows ``offset`` .. ``offset + limit`` of ``board`` and the total, cached unless ``keep`` is off (a slice no
    board page links to: arbitrary offsets must not fill the cache)."""

    def compute() -> Slice:
        return Slice(leaderboard.board_count(board), offset, limit, leaderboard.board_rows(board, offset, limit))

    return cached(version, f"slice:{board.key}:{offset}:{limit}", compute) if keep else compute()


def board_positions(version: Version, board: Board) -> tuple[dict[int, Position], dict[int, Position]]:
    """(by submission id, by owner id) -> ``Position``, cached: finds "my row" and a submission's row."""
    return cached(version, f"positions:{board.key}", lambda: leaderboard.board_positions(board))
