"""Leaderboard rows as JSON objects and CSV lines, for the API pages and the streamed full exports.

The full exports (CSV and JSON, every row of a board) are streamed: rows are read from the database in chunks
(``leaderboard.iter_board_rows``) and written as they come, so memory stays flat whatever the board's size.
"""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator

from django.http import StreamingHttpResponse

from leaderboard.api.csv_safety import spreadsheet_safe
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.leaderboard import OVERALL_SCORES, Board, Row, board_metrics, iter_board_rows

EFFICIENCY_COLUMNS = ("ms_per_image", "peak_memory_mb", "params", "device", "efficiency_source")
PROVENANCE_COLUMNS = ("sha256", "sha256_of", "code_commit", "protocol", "protocol_version", "evaluator_version")


def efficiency_fields(row: Row) -> dict:
    """ms/image, peak memory (MB), params (int) and device of the row, and whose figures they are ("measured" by
    this server or "reported" by the submitter); None when the row has none (one type per column)."""
    figures = row.efficiency or {}
    return {name: figures.get("source" if name == "efficiency_source" else name) or None for name in EFFICIENCY_COLUMNS}


def provenance_fields(row: Row) -> dict:
    """The artefact's sha256 (and what it is of), code commit, protocol and evaluator versions; None when unknown
    (figures copied from a paper have none). The overall board has no single protocol: those stay None there."""
    found = row.provenance or {}
    return {name: found.get(name) or None for name in PROVENANCE_COLUMNS}


def row_fields(row: Row) -> dict:
    """What every exported row says about its submission."""
    return {
        "id": row.uuid,
        "method_name": row.method_name,
        "owner": row.owner,
        "team": row.team,
        "baseline": row.baseline_source or None,
        "citation": row.citation,
        "paper_url": row.paper_url,
        "code_url": row.code_url,
        "submitted_at": _submitted(row),
        "comparable_group": row.section,  # ranks compare only within a group
        "coverage": row.section_title,
        **efficiency_fields(row),
        **provenance_fields(row),
    }


def row_json(board: Board, row: Row) -> dict:
    if board.benchmark is None:
        return {"rank": row.rank, **row_fields(row), **{k: row.values.get(k) for k in OVERALL_SCORES},
                "primary": {b.slug: row.primary.get(b.slug) for b in board.benchmarks}}
    return {"rank": row.rank, **row_fields(row), "num_samples": row.num_samples, "metrics": row.values}


def benchmark_json(benchmark: Benchmark) -> dict:
    return {"slug": benchmark.slug, "name": benchmark.name, "primary_metric": benchmark.primary_metric,
            "counts_toward_mpe": benchmark.counts_toward_mpe, "counts_toward_hand_mpe": benchmark.counts_toward_hand_mpe}


def board_header(board: Board) -> dict:
    """The fields of a board payload that are not rows (what, which split, which order)."""
    common = {"all": not board.best_only, "sort": board.sort, "direction": board.direction}
    if board.benchmark is None:
        return {"benchmarks": [benchmark_json(b) for b in board.benchmarks], **common}
    return {"benchmark": {"slug": board.benchmark.slug, "name": board.benchmark.name,
                          "primary_metric": board.benchmark.primary_metric},
            "split": board.split.name if board.split else None, "phase": board.phase.name if board.phase else None,
            **common, "metrics": list(board_metrics(board.benchmark))}


# ------------------------------------------------------------------------------------------------- CSV


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, int):
        return str(value)
    return spreadsheet_safe(str(value))  # names, URLs, ids: text a user chose, never a formula


def _submitted(row: Row) -> str | None:
    """When it was submitted; None for figures copied from a paper (the ``baseline`` column says "reported")."""
    return None if row.baseline_source == "reported" else row.created_at.isoformat()


def csv_columns(board: Board) -> tuple[list[str], Callable[[Row], list]]:
    """(header, row -> values) of a board's CSV."""

    lead = ["rank", "method", "owner", "team", "baseline"]
    tail = ["paper_url", "code_url", "submitted_at", "id", "coverage", *EFFICIENCY_COLUMNS, *PROVENANCE_COLUMNS]

    def common(row: Row) -> tuple[list, list]:
        return ([row.rank, row.method_name, row.owner, row.team or "", row.baseline_source],
                [row.paper_url, row.code_url, _submitted(row), row.uuid, row.section_title,
                 *efficiency_fields(row).values(), *provenance_fields(row).values()])

    if board.benchmark is None:
        slugs = [b.slug for b in board.benchmarks]

        def overall(row: Row) -> list:
            head, end = common(row)
            return [*head, *(row.values.get(k) for k in OVERALL_SCORES), *(row.primary.get(s) for s in slugs), *end]

        return [*lead, *OVERALL_SCORES, *slugs, *tail], overall

    metrics = board_metrics(board.benchmark)

    def per_benchmark(row: Row) -> list:
        head, end = common(row)
        return [*head, *(row.values.get(m) for m in metrics), row.num_samples, *end]

    return [*lead, *metrics, "num_samples", *tail], per_benchmark


def csv_lines(header: list[str], lines: Iterable[list]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield buffer.getvalue()
    for line in lines:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_value(v) for v in line])
        yield buffer.getvalue()


def export_name(board: Board, extension: str) -> str:
    if board.benchmark is None:
        base = "leaderboard-overall"
    else:
        base = f"leaderboard-{board.benchmark.slug}-{board.split.name if board.split else 'none'}"
    return f"{base}{'' if board.best_only else '-all'}.{extension}"


def _attachment(stream: Iterator[str], content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def board_csv(board: Board) -> StreamingHttpResponse:
    """Every row of the board as CSV, streamed."""
    header, values = csv_columns(board)
    rows = iter_board_rows(board) if not board.is_empty else iter(())
    return _attachment(csv_lines(header, (values(r) for r in rows)), "text/csv; charset=utf-8", export_name(board, "csv"))


def json_stream(board: Board) -> Iterator[str]:
    header = json.dumps(board_header(board))
    yield header[:-1] + ', "rows": ['
    rows = iter_board_rows(board) if not board.is_empty else iter(())
    for index, row in enumerate(rows):
        yield ("," if index else "") + json.dumps(row_json(board, row))
    yield "]}"


def board_json(board: Board) -> StreamingHttpResponse:
    """Every row of the board as one JSON object ({..., "rows": [...]}), streamed."""
    return _attachment(json_stream(board), "application/json", export_name(board, "json"))
