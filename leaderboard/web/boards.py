"""What the leaderboard pages and the leaderboard API share: request parameters, pages, links and HTTP caching.

Every response is derived from the leaderboard version (``board_cache.current_version``): its ETag names the
version, the query and the user, so an unchanged page costs a 304; the expensive parts are cached per version.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

from django.conf import settings
from django.contrib.messages import get_messages
from django.http import HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control, patch_vary_headers
from django.utils.http import http_date

from leaderboard.benchmarks.models import Benchmark, Phase, Split
from leaderboard.submissions import board_cache, cached_boards
from leaderboard.submissions.board_cache import Version
from leaderboard.submissions.leaderboard import Board, Position

TRUE_VALUES = {"1", "true", "yes", "on"}


class BadParameter(ValueError):
    """A query parameter that cannot be used; answered 400 with this message."""


def wants_all(params) -> bool:
    """``?all=1`` lists every submission; the default is each entrant's best."""
    return str(params.get("all", "")).lower() in TRUE_VALUES


MAX_QUERY_INT = 2**31 - 1  # page/offset beyond this would only reach the database as an out-of-range number


def positive_int(params, name: str, default: int, minimum: int = 1, maximum: int = MAX_QUERY_INT) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadParameter(f"{name} must be an integer, not {str(raw)[:40]!r}.") from None
    if value < minimum:
        raise BadParameter(f"{name} must be at least {minimum}.")
    if value > maximum:
        raise BadParameter(f"{name} must be at most {maximum}.")
    return value


def board_query(board: Board, **overrides) -> str:
    """The query string of a board view ('?split=..&sort=..'), defaults left out; ``overrides`` win."""
    params: dict[str, object] = {}
    if board.phase is not None:
        params["phase"] = board.phase.name
    if board.split is not None:
        params["split"] = board.split.name
    if board.sort != board.ranking_metric:
        params["sort"] = board.sort
    if board.direction != "asc":
        params["dir"] = board.direction
    if not board.best_only:
        params["all"] = 1
    params.update(overrides)
    clean = {k: v for k, v in params.items() if v not in (None, "", False)}
    return "?" + urlencode(clean) if clean else "?"


def is_canonical(params, board: Board, **used) -> bool:
    """Whether a request named ``board`` only by parameters it read, each once, with the values it used (``used``:
    the paging values, e.g. page=2). Only such requests are cached for anonymous visitors: any other query string
    (an unknown parameter, ``sort=junk`` that fell back to the default, ``page=01``) is answered but never kept, so
    junk requests cannot fill the cache (issue 24, Medium 3)."""
    canonical = dict(parse_qsl(board_query(board, **used)[1:]))
    return all(len(params.getlist(name)) == 1 and canonical.get(name) == value for name, value in params.items())


@dataclass(frozen=True)
class Pager:
    number: int
    num_pages: int
    count: int
    size: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.num_pages


def page_of(position: Position, size: int | None = None) -> int:
    return position.index // (size or settings.LEADERBOARD_PAGE_SIZE) + 1


def row_link(board: Board, position: Position, path: str = "") -> str:
    """Link to a row: the page it is on, scrolled to its anchor."""
    page = page_of(position)
    query = board_query(board, page=page if page > 1 else None)
    return f"{path}{query if query != '?' else ''}#s-{position.uuid}"


def my_position(version: Version, board: Board, user) -> Position | None:
    """The first row on ``board`` submitted by ``user`` (their own or for a team), if any."""
    if not user.is_authenticated or board.is_empty:
        return None
    return cached_boards.board_positions(version, board)[1].get(user.pk)


def submission_position(version: Version, board: Board, submission_id: int) -> Position | None:
    if board.is_empty:
        return None
    return cached_boards.board_positions(version, board)[0].get(submission_id)


def cached_benchmark(version: Version, slug: str) -> tuple[Benchmark, list[Split]] | None:
    """A benchmark and its splits (name order), cached per version: a page needs no query for them."""
    def load() -> tuple[Benchmark, list[Split]] | None:
        benchmark = Benchmark.objects.filter(slug=slug).first()
        return (benchmark, list(benchmark.splits.order_by("name"))) if benchmark else None

    return board_cache.cached(version, f"benchmark:{slug}", load)


def cached_phases(version: Version, benchmark: Benchmark) -> list[Phase]:
    """A benchmark's phases in time order, cached per version (a phase start or end passed is a new version)."""
    return board_cache.cached(version, f"phases:{benchmark.pk}", lambda: list(benchmark.phases.all()))


def requested_phase(params, phases: list[Phase]) -> Phase | None:
    """The phase named by ``?phase=``; None without one; BadParameter naming the phases for an unknown name."""
    name = params.get("phase")
    if name in (None, ""):
        return None
    found = next((p for p in phases if p.name == name), None)
    if found is None:
        raise BadParameter(f"No phase {str(name)[:40]!r} on this benchmark; phases: {', '.join(p.name for p in phases) or 'none'}.")
    return found


def active_benchmarks(version: Version) -> list[Benchmark]:
    return board_cache.cached(version, "active-benchmarks", lambda: list(Benchmark.objects.filter(is_active=True)))


# ------------------------------------------------------------------------------------------- HTTP caching


def validators(request: HttpRequest, version: Version, *parts: object) -> tuple[str, float | None]:
    """(ETag, Last-Modified timestamp) of a board response for this request's query and user."""
    user = request.user
    etag = version.etag(request.path, request.META.get("QUERY_STRING", ""), user.pk or "", user.is_staff, *parts)
    last_modified = version.changed_at.timestamp() if version.changed_at else None
    return etag, last_modified


def not_modified(request: HttpRequest, etag: str, last_modified: float | None) -> HttpResponse | None:
    """A 304 when the client's copy is current. Never while flash messages wait to be shown."""
    if len(get_messages(request)):
        return None
    response = get_conditional_response(request, etag=etag, last_modified=last_modified and int(last_modified))
    if response is not None:
        stamp(request, response, etag, last_modified)
    return response


def stamp(request: HttpRequest, response: HttpResponse, etag: str, last_modified: float | None) -> HttpResponse:
    """ETag / Last-Modified, and revalidate on every use (no-cache) so a new result shows at once."""
    response["ETag"] = etag
    if last_modified is not None:
        response["Last-Modified"] = http_date(last_modified)
    patch_cache_control(response, no_cache=True, **({"private": True} if request.user.is_authenticated else {}))
    patch_vary_headers(response, ("Cookie", "Authorization", "Accept"))
    return response
