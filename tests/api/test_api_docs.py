"""Offline API docs (Swagger UI, Redoc) and token authentication with either 'Token' or 'Bearer'."""
from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.mark.parametrize("url", ["/api/v1/docs/", "/api/v1/redoc/"])
def test_docs_pages_load_only_local_assets(db, url):
    response = Client().get(url)
    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"""(?:src|href)=["']https?://""", html), "the docs must not fetch anything from a CDN"
    assets = re.findall(r"""(?:src|href)=["']/static/([^"']+)["']""", html)
    assert assets, html
    for asset in assets:
        assert finders.find(asset), f"{asset} is referenced but not shipped (drf-spectacular-sidecar)"


def test_swagger_setup_script_is_served(db):
    response = Client().get("/api/v1/docs/?script=")
    assert response.status_code == 200 and b"SwaggerUIBundle" in response.content
    assert b"/api/v1/schema/" in response.content


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "bearer"])
def test_token_is_accepted_with_either_scheme(alice, scheme):
    token = Token.objects.create(user=alice)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {token.key}")
    response = client.get("/api/v1/submissions/")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("header, message", [
    ("Bearer", "expected 'Bearer <token>'"),
    ("Bearer a b", "expected 'Bearer <token>'"),
    ("Bearer not-a-token", "Invalid token"),
])
def test_bad_token_headers_say_what_is_wrong(db, header, message):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/submissions/")
    assert response.status_code == 401
    assert message in response.json()["detail"]


def test_schema_documents_bearer_auth(db):
    response = Client().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    schemes = response.json()["components"]["securitySchemes"]
    assert schemes["tokenAuth"]["scheme"] == "bearer"


def test_docs_are_linked_from_the_footer_and_the_api_page(db):
    for url in ("/", "/api/"):
        html = Client().get(url).content.decode()
        assert 'href="/api/v1/docs/"' in html and 'href="/api/v1/redoc/"' in html
    html = Client().get("/api/").content.decode()
    assert 'href="/api/v1/"' in html  # DRF's browsable API
