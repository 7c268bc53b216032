"""Ground truth never reachable, CSRF on every form, the upload size limit, API rate limits."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client
from django.utils.html import escape
from rest_framework.authtoken.models import Token
from rest_framework.throttling import SimpleRateThrottle

from tests.security.conftest import World, npz_upload
from tests.security.test_access import MATRIX, ROLES, url_for


def body(response) -> bytes:
    return b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content


def probe_urls(world: World) -> list[str]:
    """Every path we can think of that might map to the GT file: all must be refused."""
    gt = world.benchmark.gt_path  # e.g. gt/bench-s/gt.npz, relative to PRIVATE_STORAGE_ROOT
    slug = world.benchmark.slug
    return [
        f"/{gt}", f"/media/{gt}", f"/static/{gt}", f"/private/{gt}", f"/var/private/{gt}",
        f"/static/../var/private/{gt}", f"/static/..%2f..%2fvar%2fprivate%2f{gt.replace('/', '%2f')}",
        f"/static/%2e%2e/%2e%2e/var/private/{gt}", f"/media/../../{gt}",
        f"/submissions/{world.submission.uuid}/../../{gt}",
        f"/benchmarks/{slug}/gt.npz", f"/api/v1/benchmarks/{slug}/gt/", f"/api/v1/leaderboard/{slug}/?format=npz",
        "/static/web/../../../../var/private/",
    ]


def parameter_probes(world: World) -> list[str]:
    """Parameters that views ignore (so they may answer 200), but must never turn into the GT."""
    gt, uuid, slug = world.benchmark.gt_path, world.submission.uuid, world.benchmark.slug
    return [f"/submissions/{uuid}/upload?name=../../../{gt}", f"/submissions/{uuid}/upload?path=/{gt}",
            f"/api/v1/benchmarks/{slug}/?fields=gt_path", f"/benchmarks/{slug}/?format=npz&split=../../{gt}",
            f"/api/v1/leaderboard/{slug}/?split=../../{gt}", "/admin/benchmarks/benchmark/1/gt_path/"]


def assert_no_ground_truth(world: World, body: bytes, where: str, paths_too: bool = True) -> None:
    assert world.gt_bytes not in body and world.gt_bytes[:64] not in body, f"GT file bytes in {where}"
    for marker in world.gt_markers:
        assert marker.encode() not in body, f"GT value {marker} in {where}"
    if paths_too:
        assert world.benchmark.gt_path.encode() not in body, f"GT path in {where}"
        assert b"PRIVATE_STORAGE_ROOT" not in body and b"/private/gt" not in body, f"private path in {where}"


@pytest.mark.parametrize("role", ROLES)
def test_ground_truth_is_not_served_at_any_url(world: World, role: str):
    client = world.client(role)
    for url in probe_urls(world):
        response = client.get(url, follow=True)
        assert response.status_code in (400, 403, 404, 405), (url, response.status_code)
        # The 404 page says which path was asked for: an echo of the probe, not a leak.
        echoed = escape(response.wsgi_request.path).encode()
        assert_no_ground_truth(world, body(response).replace(echoed, b""), url)
    for url in parameter_probes(world):  # the login page echoes the request (?next=...), so data only
        assert_no_ground_truth(world, body(client.get(url, follow=True)), url, paths_too=False)


@pytest.mark.parametrize("role", ROLES)
def test_no_page_or_api_response_carries_ground_truth(world: World, role: str):
    """Every endpoint of the permissions matrix; the admin shows staff the GT path (read-only), never its data."""
    client = world.client(role)
    for method, template, _ in MATRIX:
        url = url_for(template, world)
        assert_no_ground_truth(world, body(getattr(client, method)(url)), url, paths_too=not url.startswith("/admin/"))
    if role == "staff":
        world.users["staff"].is_superuser = True
        world.users["staff"].save()
        page = world.client("staff").get(f"/admin/benchmarks/benchmark/{world.benchmark.pk}/change/")
        assert page.status_code == 200
        assert_no_ground_truth(world, page.content, "admin change page", paths_too=False)
        assert f'href="{world.benchmark.gt_path}'.encode() not in page.content  # shown, not linked


def csrf_posts(world: World) -> list[tuple[str, dict]]:
    uuid = world.submission.uuid
    return [
        ("/submit/", {"kind": "predictions", "benchmarks": world.benchmark.slug, "method_name": "x",
                      "file": npz_upload({"sample_ids": __import__("numpy").array(["a"])})}),
        (f"/submissions/{uuid}/publish", {}),
        (f"/submissions/{uuid}/unpublish", {}),
        (f"/submissions/{world.running.uuid}/cancel", {}),
        ("/accounts/token/", {}),
        ("/accounts/logout/", {}),
        (f"/api/v1/submissions/{uuid}/publish/", {}),  # DRF session authentication enforces CSRF too
    ]


def test_forms_refuse_posts_without_a_csrf_token(world: World):
    client = world.client("owner", enforce_csrf_checks=True)
    for url, data in csrf_posts(world):
        response = client.post(url, data)
        assert response.status_code == 403, (url, response.status_code)
    assert world.submission.__class__.objects.get(pk=world.submission.pk).is_public is False
    assert world.submission.__class__.objects.get(pk=world.running.pk).status == "running"
    assert not Token.objects.filter(user=world.users["owner"]).exists()
    anonymous = Client(enforce_csrf_checks=True)
    for url in ("/accounts/signup/", "/accounts/login/"):
        assert anonymous.post(url, {"username": "eve", "password": "x"}).status_code == 403


def test_forms_accept_posts_with_the_csrf_token(world: World):
    client = world.client("owner", enforce_csrf_checks=True)
    client.get(f"/submissions/{world.submission.uuid}/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    response = client.post(f"/submissions/{world.submission.uuid}/publish", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 302
    assert world.submission.__class__.objects.get(pk=world.submission.pk).is_public is True


def test_api_token_requests_need_no_csrf_token(world: World):
    key = Token.objects.create(user=world.users["owner"]).key
    client = Client(enforce_csrf_checks=True)
    response = client.post(f"/api/v1/submissions/{world.submission.uuid}/publish/", HTTP_AUTHORIZATION=f"Token {key}")
    assert response.status_code == 200


def test_upload_size_limit_answers_413_on_the_web_and_the_api(world: World, settings):
    settings.MAX_UPLOAD_BYTES = 2048
    big = npz_upload({"sample_ids": __import__("numpy").array([f"id-{i:05d}" for i in range(500)])})
    assert big.size > 2048
    web = world.client("other").post("/submit/", {"kind": "predictions", "benchmarks": world.benchmark.slug,
                                                   "method_name": "big", "file": big})
    assert web.status_code == 413
    big.seek(0)
    key = Token.objects.create(user=world.users["other"]).key
    api = Client().post("/api/v1/submissions/", {"kind": "predictions", "benchmark": world.benchmark.slug,
                                                 "method_name": "big", "file": big}, HTTP_AUTHORIZATION=f"Token {key}")
    assert api.status_code == 413
    assert "limit" in api.json()["detail"]
    assert not world.submission.__class__.objects.filter(method_name="big").exists()


@pytest.fixture
def tiny_rates(monkeypatch):
    """DRF reads the rates into a class attribute at import, so patch it there (and start from an empty cache)."""
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {**SimpleRateThrottle.THROTTLE_RATES, "anon": "3/min", "user": "4/min"})
    cache.clear()
    yield
    cache.clear()


def test_anonymous_api_requests_are_throttled_with_429(world: World, tiny_rates):
    """The leaderboard endpoints are exempt (served from the cache, like the pages); the rest share one budget."""
    client = Client()
    codes = [client.get("/api/v1/benchmarks/").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    response = client.get(f"/api/v1/benchmarks/{world.benchmark.slug}/")
    assert response.status_code == 429 and int(response["Retry-After"]) > 0


def test_token_requests_are_throttled_per_user_with_429(world: World, tiny_rates):
    key = Token.objects.create(user=world.users["other"]).key
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    codes = [client.get("/api/v1/submissions/").status_code for _ in range(6)]
    assert codes == [200] * 4 + [429] * 2
    # Another user's budget is separate.
    other = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=world.users['owner']).key}")
    assert other.get("/api/v1/submissions/").status_code == 200
