"""Refuse request bodies that are too large, or sent by nobody we know, before anything reads them.

Django parses a multipart body the first time ``request.POST`` is touched, and ``CsrfViewMiddleware`` touches it
for every POST: without this guard an anonymous client holding only a csrftoken cookie could stream gigabytes into
the upload temp folder before any view ran. The guard sits ahead of CSRF and decides from the headers alone:

- anonymous clients may send at most MAX_ANONYMOUS_BODY_BYTES (log-in and sign-up forms, token requests);
- authenticated users (session, or an ``Authorization`` header that one of the API's header authenticators
  accepts) may send MAX_FORM_BODY_BYTES to ordinary views, and MAX_UPLOAD_BYTES plus DATA_UPLOAD_MAX_MEMORY_SIZE
  (room for the form fields) to the views that take uploads;
- staff get the upload limit everywhere (the admin).

An accepted upload is then read under REQUEST_BODY_STALL_TIMEOUT_S per socket read (gunicorn), so a client that
stops sending mid-body gets a 408 and frees its worker thread.

Upload views are marked with ``@accepts_uploads`` (function views) or list their DRF actions in
``upload_actions`` (viewsets). The views still check the exact file size; this is the outer bound.
"""
from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse, UnreadablePostError

from leaderboard.submissions.uploads import format_size

API_PREFIX = "/api/"


def accepts_uploads(view: Callable) -> Callable:
    """Mark a function view as one that takes file uploads (the guard then allows MAX_UPLOAD_BYTES)."""
    view.accepts_uploads = True
    return view


def _is_upload_view(view_func: Callable, method: str) -> bool:
    if getattr(view_func, "accepts_uploads", False):
        return True
    # DRF's as_view() keeps the viewset class and its method -> action map on the view function.
    action = (getattr(view_func, "actions", None) or {}).get(method.lower())
    return action is not None and action in getattr(getattr(view_func, "cls", None), "upload_actions", ())


def _header_user(request: HttpRequest):
    """The user an API header authenticator (token, bearer) accepts, else None. Reads headers only."""
    from rest_framework.authentication import SessionAuthentication
    from rest_framework.exceptions import APIException
    from rest_framework.settings import api_settings

    forced = getattr(request, "_force_auth_user", None)  # DRF's APIClient.force_authenticate (tests only)
    if forced is not None:
        return forced
    if not request.headers.get("Authorization"):
        return None
    for authenticator_class in api_settings.DEFAULT_AUTHENTICATION_CLASSES:
        if issubclass(authenticator_class, SessionAuthentication):
            continue  # the session is request.user already
        try:
            result = authenticator_class().authenticate(request)
        except APIException:
            return None
        if result is not None:
            return result[0]
    return None


def _content_length(request: HttpRequest) -> int:
    try:
        return max(0, int(request.META.get("CONTENT_LENGTH") or 0))
    except ValueError:
        return 0  # Django reads no body without a valid length


def body_limit(user, upload_view: bool) -> int:
    if user is None or not user.is_authenticated:
        return settings.MAX_ANONYMOUS_BODY_BYTES
    if upload_view or user.is_staff:
        return settings.MAX_UPLOAD_BYTES + settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return settings.MAX_FORM_BODY_BYTES


class UploadGuardMiddleware:
    """Answer 413 (or 401 / a log-in redirect for anonymous uploads) from the headers, never reading the body."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func: Callable, view_args, view_kwargs) -> HttpResponse | None:
        length = _content_length(request)
        if length == 0:
            return None
        sock = request.META.get("gunicorn.socket")
        if sock is not None:  # per read; gunicorn resets it for the connection's next request
            sock.settimeout(settings.REQUEST_BODY_STALL_TIMEOUT_S)
        if length <= settings.MAX_ANONYMOUS_BODY_BYTES:
            return None  # small enough for anyone: no need to look up who is asking
        upload_view = _is_upload_view(view_func, request.method or "")
        user = request.user if request.user.is_authenticated else _header_user(request)
        limit = body_limit(user, upload_view)
        if length > limit:
            if user is None and upload_view:
                return self._unauthenticated(request)
            return self._too_large(request, length, limit, anonymous=user is None)
        return self._read_body(request) if upload_view else None

    @staticmethod
    def _read_body(request: HttpRequest) -> HttpResponse | None:
        """Parse an accepted upload now (under the stall timeout), so a client that stops sending gets a clear 408.

        CSRF would parse it next anyway (and answer a stalled body with a misleading 403); the view and DRF reuse
        the parsed ``request.POST``/``request.FILES``.
        """
        try:
            request.POST  # noqa: B018  (parses the multipart body, files into FILE_UPLOAD_TEMP_DIR)
        except UnreadablePostError:
            detail = (f"The upload stopped (nothing arrived for {settings.REQUEST_BODY_STALL_TIMEOUT_S} s, "
                      "or the connection broke); please send it again.")
            if request.path.startswith(API_PREFIX):
                return JsonResponse({"error": "upload_interrupted", "detail": detail}, status=408)
            return HttpResponse(detail, status=408, content_type="text/plain; charset=utf-8")
        return None

    @staticmethod
    def _unauthenticated(request: HttpRequest) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return JsonResponse(
                {"error": "not_authenticated", "detail": "Authentication credentials were not provided or are invalid; "
                 "send 'Authorization: Token <key>' with uploads."},
                status=401, headers={"WWW-Authenticate": "Token"},
            )
        return redirect_to_login(request.get_full_path())

    @staticmethod
    def _too_large(request: HttpRequest, length: int, limit: int, anonymous: bool) -> HttpResponse:
        detail = f"The request body is {format_size(length)}; the limit here is {format_size(limit)}."
        if anonymous:
            detail += " Log in (or send your API token) to upload files."
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"error": "request_too_large", "detail": detail}, status=413)
        return HttpResponse(detail, status=413, content_type="text/plain; charset=utf-8")
