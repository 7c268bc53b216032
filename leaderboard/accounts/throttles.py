"""Rate limits on password checks and token creation (issue 12, Medium 11: 300 wrong passwords met no 429).

DRF's throttles keep their counters in Django's default cache, so with CACHE_URL pointing at Redis every web
process shares them (a per-process LocMemCache let 355 of 400 requests through a 120/min limit on 3 workers).
The same throttle classes guard DRF views (``throttle_classes``) and plain Django views (``throttle_posts``).

Issue 24, High 2: every throttle names a client by ``client_address`` (``TRUSTED_PROXY_COUNT`` hops of
X-Forwarded-For, none by default: the header is then the client's own text), and the per-account throttle keys the
name as authentication reads it (``username_key``), so neither a rotated header nor ``ｃａｒｏｌ`` opens a new count.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from functools import wraps

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle


def client_address(request) -> str:
    """The address of the client: REMOTE_ADDR, or behind N trusted proxies (``TRUSTED_PROXY_COUNT``) the N-th
    X-Forwarded-For entry from the right, the peer the outermost proxy saw. Entries to its left are the client's own."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    return hops[-min(proxies, len(hops))] if hops else remote


def username_key(name: object) -> str:
    """An account name as the log-in form reads it (stripped, NFKC, as ``UsernameField`` and
    ``AbstractBaseUser.normalize_username`` do), lower-cased so that no spelling of a name opens a new count."""
    return AbstractBaseUser.normalize_username(str(name).strip()).lower()[:150]


class ClientAddressThrottle(SimpleRateThrottle):
    """Base of every throttle here: clients are told apart by ``client_address`` only."""

    def get_ident(self, request) -> str:
        return client_address(request)


class AnonThrottle(ClientAddressThrottle, AnonRateThrottle):
    """DRF's anonymous API limit (``API_THROTTLE_ANON``) per client address."""


class UserThrottle(ClientAddressThrottle, UserRateThrottle):
    """DRF's per-user API limit (``API_THROTTLE_USER``)."""


class LoginIPThrottle(ClientAddressThrottle):
    """Password checks (log-in form, API token request) per client address."""

    scope = "login"

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(ClientAddressThrottle):
    """Password checks per account name, whatever address they come from (a botnet guessing one password)."""

    scope = "login_username"

    def get_cache_key(self, request, view) -> str | None:
        data = getattr(request, "data", None) or request.POST
        username = username_key(data.get("username", "")) if isinstance(data, Mapping) else ""  # JSON may be a list
        return self.cache_format % {"scope": self.scope, "ident": username} if username else None


class TokenCreationThrottle(ClientAddressThrottle):
    """New API tokens per logged-in user (each replaces the last; no reason to mint them in bulk)."""

    scope = "token"

    def get_cache_key(self, request, view) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": request.user.pk} if request.user.is_authenticated else None


class PasswordResetIPThrottle(LoginIPThrottle):
    """Password-reset requests per client address (issue 24, Medium 4: 25 requests sent 50 mails in 0.2 s)."""

    scope = "password_reset"


class PasswordResetAddressThrottle(ClientAddressThrottle):
    """Password-reset requests per target address, from any client: an inbox gets a few mails an hour at most."""

    scope = "password_reset_address"

    def get_cache_key(self, request, view) -> str | None:
        address = str(request.POST.get("email", "")).strip().lower()
        ident = hashlib.sha256(address.encode()).hexdigest()  # any text the client sent: a safe cache key
        return self.cache_format % {"scope": self.scope, "ident": ident} if address else None


class VerifyEmailThrottle(TokenCreationThrottle):
    """The address-confirmation mail sent again, per user."""

    scope = "verify_email"


def _refused(request: HttpRequest, wait: float | None) -> HttpResponse:
    retry_after = str(max(1, int(wait or 1)))
    detail = f"Too many attempts; try again in {retry_after} s."
    if request.path.startswith("/api/"):
        response = JsonResponse({"error": "throttled", "detail": detail}, status=429)
    else:
        response = render(request, "web/throttled.html", {"detail": detail}, status=429)
    response["Retry-After"] = retry_after
    return response


def throttle_posts(*throttle_classes: type[SimpleRateThrottle]) -> Callable:
    """Decorator for a Django view: each POST counts against every throttle; over any of them, a 429."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method == "POST":
                for throttle_class in throttle_classes:
                    throttle = throttle_class()
                    if not throttle.allow_request(request, None):
                        return _refused(request, throttle.wait())
            return view(request, *args, **kwargs)

        return wrapper

    return decorator
