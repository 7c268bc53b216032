"""Whole leaderboard responses for anonymous visitors, kept in this process's memory per leaderboard version.

Most board traffic is anonymous and every anonymous visitor of a URL gets the same bytes, so once a board view
has answered one, ``AnonymousBoardCacheMiddleware`` (right after whitenoise) answers the next ones itself: no
session, authentication, CSRF, messages, URL resolution, view, template, cache (un)pickling or database, only a
dictionary look-up under the current version token (``board_cache.current_version``, a memo). An unchanged
page still answers 304 to If-None-Match / If-Modified-Since.

Correctness rests on three rules:

- Only a request that cannot be anyone's is eligible: GET, no ``Authorization`` header, no session cookie and
  no messages cookie (so no signed-in user, no API token, no flash message). Signed-in users and token clients
  always reach the views (their own row is highlighted; staff see hidden splits).
- Only responses a board view marks with ``share(response, version)`` are kept, and only when they are plain
  200s that set no cookie and rendered no CSRF token: the views mark exactly what they already cached whole for
  anonymous visitors. The entry is filed under the version the view computed it from, never a newer one.
- The key is everything else the answer depends on: scheme, host, path, query string and Accept (the API
  negotiates JSON or HTML). A new version token makes every entry unreachable; old ones age out (LRU within
  LEADERBOARD_RESPONSE_CACHE_BYTES, and LEADERBOARD_CACHE_SECONDS at most, like the shared cache).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.cache import get_conditional_response

from leaderboard.submissions import board_cache
from leaderboard.submissions.board_cache import Version

SHARED_ATTR = "_anonymous_board_version"  # set on a response by share(): the version it was built from
CONTENT_HEADERS = frozenset({"content-type", "content-length"})  # what a 304 leaves out


@dataclass(frozen=True)
class Entry:
    body: bytes
    headers: tuple[tuple[str, str], ...]  # as the inner middleware left them (X-Frame-Options, Vary, ETag...)
    etag: str | None
    last_modified: int | None
    stored_at: float

    def response(self, request: HttpRequest) -> HttpResponse:
        """The stored answer, or a 304 (412 for a failed If-Match) with the same validators."""
        conditional = get_conditional_response(request, etag=self.etag, last_modified=self.last_modified)
        if conditional is None:
            return HttpResponse(self.body, headers=dict(self.headers))
        for name, value in self.headers:
            if name.lower() not in CONTENT_HEADERS:
                conditional[name] = value
        return conditional


class ResponseStore:
    """A thread-safe LRU of entries keyed by (version token, request key), bounded by the bytes of the bodies."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], Entry] = OrderedDict()
        self._bytes = 0
        self._paths: set[str] = set()  # paths an entry was ever stored for: only those look the version up
        self._lock = threading.Lock()

    def knows(self, path: str) -> bool:
        return path in self._paths

    def get(self, token: str, key: str, max_age: float) -> Entry | None:
        with self._lock:
            entry = self._entries.get((token, key))
            if entry is None:
                return None
            if time.monotonic() - entry.stored_at > max_age:
                self._drop((token, key))
                return None
            self._entries.move_to_end((token, key))
            return entry

    def put(self, token: str, key: str, path: str, entry: Entry) -> None:
        if len(entry.body) > self.max_bytes:
            return
        with self._lock:
            self._drop((token, key))
            self._entries[token, key] = entry
            self._bytes += len(entry.body)
            self._paths.add(path)
            while self._bytes > self.max_bytes:
                self._drop(next(iter(self._entries)))

    def _drop(self, full_key: tuple[str, str]) -> None:
        entry = self._entries.pop(full_key, None)
        if entry is not None:
            self._bytes -= len(entry.body)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._bytes = 0
            self._paths.clear()

    def __len__(self) -> int:
        return len(self._entries)


STORE = ResponseStore(settings.LEADERBOARD_RESPONSE_CACHE_BYTES)


def share(response: HttpResponseBase, version: Version) -> HttpResponseBase:
    """Mark ``response`` as the answer every anonymous visitor of this URL gets under ``version``."""
    setattr(response, SHARED_ATTR, version)
    return response


def request_key(request: HttpRequest) -> str | None:
    """The key of an eligible (anonymous, cookie-less as far as we care) GET, else None."""
    if request.method != "GET" or "HTTP_AUTHORIZATION" in request.META:
        return None
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or CookieStorage.cookie_name in cookies:
        return None
    return f"{request.scheme}://{request.get_host()}{request.get_full_path()}\n{request.META.get('HTTP_ACCEPT', '')}"


def _storable(request: HttpRequest, response: HttpResponseBase) -> Version | None:
    version = getattr(response, SHARED_ATTR, None)
    if (version is None or response.status_code != 200 or response.streaming or response.cookies
            or request.META.get("CSRF_COOKIE_NEEDS_UPDATE")):
        return None
    return version


def remember(request: HttpRequest, key: str, response: HttpResponseBase) -> None:
    version = _storable(request, response)
    if version is None:
        return
    etag = response.get("ETag")
    last_modified = int(version.changed_at.timestamp()) if version.changed_at else None
    entry = Entry(response.content, tuple(response.items()), etag, last_modified, time.monotonic())
    STORE.put(version.token, key, request.path, entry)


class AnonymousBoardCacheMiddleware:
    """Answer eligible requests from ``STORE``; keep the shared answers the board views produce."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        key = request_key(request)
        if key is not None and STORE.knows(request.path):
            token = board_cache.current_version().token
            entry = STORE.get(token, key, settings.LEADERBOARD_CACHE_SECONDS)
            if entry is not None:
                return entry.response(request)
        response = self.get_response(request)
        if key is not None:
            remember(request, key, response)
        return response
