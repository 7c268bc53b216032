"""The API's default pagination: limit/offset with ``limit`` capped at API_MAX_LIMIT.

DRF's LimitOffsetPagination takes any integer as the limit, so ``?limit=99999999999999999999999`` reached the
database as an out-of-range LIMIT (a 500). A huge ``offset`` is safe: past the row count DRF returns an empty
page without querying the rows.
"""
from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class BoundedLimitOffsetPagination(LimitOffsetPagination):
    @property
    def max_limit(self) -> int:  # read per request, so settings overrides apply
        return settings.API_MAX_LIMIT
