"""The API answers every error in JSON, never with an HTML page (issue 12, High 6).

DRF turns its own exceptions into JSON; anything else (a broker or database outage, a bug) would reach Django's
HTML 500 page. ``exception_handler`` covers exceptions inside API views; ``bad_request``, ``page_not_found`` and
``server_error`` (the project's handler400/404/500) cover /api/ URLs that no view matched and errors raised outside
views (e.g. the upload guard's body parse refusing too many files).
"""
from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

API_PREFIX = "/api/"
SERVER_ERROR = {"error": "server_error", "detail": "Internal server error; it has been logged. Please try again later."}


def exception_handler(exc: Exception, context: dict) -> Response:
    response = drf_exception_handler(exc, context)
    if response is not None:
        return response
    request = context.get("request")
    log.error("Unhandled error in API view %s %s", getattr(request, "method", "?"), getattr(request, "path", "?"),
              exc_info=exc)
    return Response(SERVER_ERROR, status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A request Django refused while parsing it (too many files or fields, a malformed body)."""
    if _is_api(request):
        detail = str(exception) or "The request could not be parsed."
        return JsonResponse({"error": "bad_request", "detail": detail[:500]}, status=400)
    return defaults.bad_request(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"error": "not_found", "detail": f"No API endpoint at {request.path}."}, status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(SERVER_ERROR, status=500)
    return defaults.server_error(request)
