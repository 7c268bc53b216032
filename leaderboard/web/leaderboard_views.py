"""The leaderboard pages: overall and per benchmark, paginated, cached per leaderboard version.

The table of a page (the costly part: thousands of rows ranked, 50 rendered) is cached as HTML per version and
board view; the rest of the page (header, user, "my row" link) is rendered per request.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.safestring import mark_safe

from leaderboard.api.exports import board_csv, board_json
from leaderboard.benchmarks.models import Benchmark, Phase
from leaderboard.benchmarks.phases import PhaseClosed, open_phases, phase_state
from leaderboard.submissions import board_cache, cached_boards
from leaderboard.submissions.leaderboard import (
    OVERALL_SCORES, SCORE_LABELS, Board, benchmark_board, display_split, overall_board, phase_splits, speed_rows,
)
from leaderboard.web.boards import (
    BadParameter, Pager, active_benchmarks, board_query, cached_benchmark, cached_phases, is_canonical, my_position,
    not_modified, page_of, positive_int, requested_phase, row_link, stamp, validators, wants_all,
)
from leaderboard.web.breakdown_charts import board_breakdowns_html
from leaderboard.web.response_cache import share
from leaderboard.web.speed_chart import speed_chart_svg, speed_points

def metric_columns(benchmark: Benchmark) -> list[dict]:
    """The benchmark's metric columns: only those its protocol produces for the parts its GT has (3DPW: the two
    body MPJPEs), in display order. A column that could only ever read "n/a" is not shown."""
    from evaluator.metric_names import ALL_METRICS, METRIC_LABELS

    # the generic recipe's columns (not the option-only extras), and every figure of a protocol with its own
    return [{"key": k, "label": m.label, "part": m.part, "pa": m.procrustes, "higher": m.higher_is_better,
             "rate": m.unit == ""}
            for k, m in benchmark.metric_labels().items() if k in METRIC_LABELS or k not in ALL_METRICS]


def _sort_links(board: Board, columns: list[dict]) -> list[dict]:
    """Each column's header link: the same column again reverses the direction; a new column starts best first
    (highest first for a detection rate such as F1, lowest first for an error)."""
    for column in columns:
        active = column["key"] == board.sort
        column["active"] = active
        direction = ("desc" if board.direction == "asc" else None) if active else ("desc" if column.get("higher") else None)
        column["href"] = board_query(board, sort=column["key"], dir=direction)
    return columns


def _pager(request: HttpRequest, count: int) -> Pager:
    size = settings.LEADERBOARD_PAGE_SIZE
    pages = max(1, -(-count // size))
    number = positive_int(request.GET, "page", 1)
    if number > pages:
        raise Http404(f"Page {number} does not exist: this board has {pages} page{'s' if pages > 1 else ''}.")
    return Pager(number, pages, count, size)


def _board_page(request: HttpRequest, version, board: Board, template: str, table_template: str, context: dict) -> HttpResponse:
    """Shared body of both board pages: the cached table, pagination, "my row" and the HTTP validators."""
    fmt = request.GET.get("format")
    if fmt == "csv":
        return board_csv(board)
    if fmt == "json":
        return board_json(board)
    count = cached_boards.board_slice(version, board, 0, settings.LEADERBOARD_PAGE_SIZE).count
    pager = _pager(request, count)

    def table() -> str:
        rows = cached_boards.board_slice(version, board, pager.offset, pager.size).rows
        # ms/image and params columns only where some row on the page has figures (most boards have none)
        efficiency_cols = 2 if any(row.efficiency for row in rows) else 0
        return render_to_string(table_template, {**context, "board": board, "rows": rows, "pager": pager,
                                                 "efficiency_cols": efficiency_cols})

    mine = my_position(version, board, request.user)
    page_context = {
        **context, "board": board, "pager": pager,
        "table": mark_safe(board_cache.cached(version, f"html:{table_template}:{board.key}:{pager.number}", table)),
        "my_row": row_link(board, mine) if mine else None, "my_position": mine, "my_page": page_of(mine) if mine else None,
        "my_row_here": bool(mine and page_of(mine) == pager.number),
        "toggle_href": board_query(board, all=None if not board.best_only else 1, page=None),
        "previous_href": board_query(board, page=pager.number - 1 if pager.number > 2 else None),
        "next_href": board_query(board, page=pager.number + 1),
        "csv_href": board_query(board, format="csv"), "json_href": board_query(board, format="json"),
    }
    response = render(request, template, page_context)
    response.canonical = is_canonical(request.GET, board, page=pager.number)  # only these are cached
    return response


def _shared_page(request: HttpRequest, response: HttpResponse) -> bool:
    """Whether the rendered page is the same for every anonymous visitor (then it is cached whole)."""
    return (not request.user.is_authenticated and response.status_code == 200 and not response.streaming
            and not request.META.get("CSRF_COOKIE_NEEDS_UPDATE"))  # no per-visitor CSRF token was rendered


def _conditional(view):
    """Wraps a board view: 400 on bad parameters, 304 when unchanged, validators on every answer.

    Anonymous visitors (most of the traffic) get the whole page from the cache (and, once this process has
    served it, from ``response_cache`` before any view runs); signed-in users get the cached table inside a page
    rendered for them (their name, their row).
    """
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        version = board_cache.current_version()
        etag, last_modified = validators(request, version)
        unchanged = not_modified(request, etag, last_modified)
        if unchanged is not None:
            return unchanged
        page_key = f"page:{request.path}?{request.META.get('QUERY_STRING', '')}"
        anonymous = not request.user.is_authenticated and not len(get_messages(request))
        if anonymous and request.GET.get("format") is None:
            body = board_cache.peek(version, page_key)
            if body is not None:
                return share(stamp(request, HttpResponse(body), etag, last_modified), version)
        try:
            response = view(request, version, *args, **kwargs)
        except BadParameter as exc:
            return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
        if anonymous and _shared_page(request, response) and getattr(response, "canonical", False):
            board_cache.store(version, page_key, response.content)
            share(response, version)
        return stamp(request, response, etag, last_modified)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


@_conditional
def home(request: HttpRequest, version) -> HttpResponse:
    """The overall leaderboard by MPE."""
    benchmarks = active_benchmarks(version)
    board = overall_board(benchmarks, not wants_all(request.GET), request.GET.get("sort"), request.GET.get("dir"))
    columns = _sort_links(board, [
        *({"key": k, "label": label, "score": True} for k, label in SCORE_LABELS.items()),
        *({"key": b.slug, "label": b.name, "benchmark": b} for b in benchmarks),
    ])
    speed = board_cache.cached(version, f"speed-chart:{board.best_only}",  # every row of the board, not a page
                               lambda: speed_chart_svg(speed_points(speed_rows(board))))
    return _board_page(request, version, board, "web/home.html", "web/_overall_table.html",
                       {"benchmarks": benchmarks, "columns": columns, "sort_label": _label(board, columns),
                        "speed_chart": mark_safe(speed)})


@_conditional
def benchmark_detail(request: HttpRequest, version, slug: str) -> HttpResponse:
    """One benchmark's leaderboard on a revealed split, sortable by any metric."""
    found = cached_benchmark(version, slug)
    if found is None:
        raise Http404("No such benchmark.")
    benchmark, splits = found
    phases = cached_phases(version, benchmark)
    phase = requested_phase(request.GET, phases)
    splits = phase_splits(splits, phase)
    split = display_split(benchmark, request.user, request.GET.get("split"), splits)
    board = benchmark_board(benchmark, split, not wants_all(request.GET), request.GET.get("sort"), request.GET.get("dir"),
                            phase)
    columns = sorted(metric_columns(benchmark), key=lambda c: c["key"] != benchmark.primary_metric)  # primary first
    _sort_links(board, columns)
    staff = request.user.is_staff
    return _board_page(request, version, board, "web/benchmark.html", "web/_benchmark_table.html", {
        "benchmark": benchmark, "split": split, "columns": columns, "sort_label": _label(board, columns),
        "splits": [s for s in splits if staff or s.is_revealed],
        "hidden_splits": [s for s in splits if not s.is_revealed],
        "split_note": f"split {split.name}" if split else "",
        "phases": phase_rows(board, phases), "phase": phase, "closed_note": closed_note(benchmark, phases),
        "all_phases_href": board_query(board, phase=None, split=None, page=None),
        "breakdowns": mark_safe(board_breakdowns_html(version, board)),
    })


def closed_note(benchmark: Benchmark, phases: list[Phase]) -> str:
    """Why the benchmark takes no submissions now (no phase open), or '' when it does."""
    try:
        open_phases([benchmark], timezone.now(), phases)
    except PhaseClosed as exc:
        return str(exc)
    return ""


def phase_rows(board: Board, phases: list[Phase]) -> list[dict]:
    """The phase selector and timeline: each phase's state now, dates and board link (only when there is a choice)."""
    if len(phases) < 2 and not any(p.starts_at or p.ends_at or not p.results_before_end for p in phases):
        return []  # one open-ended phase: nothing to choose or to tell
    now = timezone.now()
    return [{"phase": p, "state": phase_state(p, now), "active": board.phase == p,
             "href": board_query(board, phase=p.name, split=None, page=None),
             "hidden": p.hides_results(now)} for p in phases]


def _label(board: Board, columns: list[dict]) -> str:
    return next((c["label"] for c in columns if c["key"] == board.sort), board.sort)


__all__ = ["home", "benchmark_detail", "metric_columns", "OVERALL_SCORES"]
