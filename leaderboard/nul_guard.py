"""Refuse a NUL byte in the path or query string with a 400 before anything reads it.

PostgreSQL text cannot hold NUL, so a lookup such as ``/methods/%00`` or ``?benchmark=%00`` reached the database
and answered 500 (issue 24, Low). No address or parameter of the site can contain one; form bodies are covered by
Django's and DRF's own ``ProhibitNullCharactersValidator``.
"""
from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

DETAIL = "The address or a query parameter contains a NUL byte (%00)."


def has_nul(request: HttpRequest) -> bool:
    query = unquote_to_bytes(request.META.get("QUERY_STRING", "").replace("+", " "))
    return "\x00" in request.path or b"\x00" in query


class NulByteGuardMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if has_nul(request):
            if request.path.startswith("/api/"):
                return JsonResponse({"error": "invalid_request", "detail": DETAIL}, status=400)
            return HttpResponseBadRequest(DETAIL, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
