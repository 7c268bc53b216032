"""API token authentication accepting both ``Authorization: Token <key>`` (DRF's) and ``Bearer <key>`` (OAuth style,
what most HTTP tools and the OpenAPI UIs send)."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

KEYWORDS = ("Token", "Bearer")


class TokenOrBearerAuthentication(TokenAuthentication):
    keyword = "Token"  # what WWW-Authenticate names on a 401

    def authenticate(self, request):
        auth = get_authorization_header(request).split()
        if not auth or auth[0].lower() not in {k.lower().encode() for k in KEYWORDS}:
            return None  # not ours: let session authentication try
        scheme = auth[0].decode("latin-1")
        if len(auth) != 2:
            raise exceptions.AuthenticationFailed(
                f"Invalid Authorization header: expected '{scheme} <token>' (one token, no spaces).")
        try:
            key = auth[1].decode()
        except UnicodeError:
            raise exceptions.AuthenticationFailed("Invalid Authorization header: the token has invalid characters.") from None
        return self.authenticate_credentials(key)


class TokenOrBearerScheme(OpenApiAuthenticationExtension):
    """Documents the header as HTTP bearer (Swagger UI's 'Authorize' then sends ``Bearer <key>``, which we accept)."""

    target_class = TokenOrBearerAuthentication
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Your API token (from /accounts/token/), sent as `Authorization: Bearer <token>`; "
                           "`Authorization: Token <token>` is accepted too.",
        }
