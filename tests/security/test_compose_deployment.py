"""Issue 24, Medium 5 and Medium 2, in the shipped compose file: gunicorn is reachable only through a buffering
nginx with the README's limits (40 connections dripping headers held all 8 gunicorn threads when it was published
on 0.0.0.0), and the cache has its own bounded, evicting Redis while the broker's never evicts."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]


def directives(text: str) -> dict[str, str]:
    return {m[1]: m[2].strip() for m in re.finditer(r"^\s*(client_\w+|proxy_request_buffering|proxy_set_header X-Forwarded-For)\s+([^;]+);", text, re.M)}


def test_gunicorn_is_reached_only_through_the_buffering_proxy(services):
    assert "ports" not in services["web"], "gunicorn must not be published: slow clients would hold its threads"
    proxy = services["proxy"]
    assert proxy["image"].startswith("nginx") and proxy["ports"]
    assert any(v.startswith("./deploy/nginx.conf:") for v in proxy["volumes"])
    assert services["web"]["environment"]["TRUSTED_PROXY_COUNT"] == 1  # one proxy appends X-Forwarded-For


def test_the_proxy_enforces_the_readme_limits():
    conf = directives((ROOT / "deploy" / "nginx.conf").read_text())
    readme_block = re.search(r"```nginx\n(.*?)```", (ROOT / "README.md").read_text(), re.S)[1]
    assert conf == directives(readme_block)  # the README documents what compose ships
    assert conf["proxy_request_buffering"] == "on"
    assert int(conf["client_max_body_size"].rstrip("m")) * 1024**2 > settings.MAX_UPLOAD_BYTES
    assert conf["client_header_timeout"] and conf["client_body_timeout"]
    assert conf["proxy_set_header X-Forwarded-For"] == "$proxy_add_x_forwarded_for"


def test_the_cache_redis_evicts_and_the_broker_redis_never_does(services):
    cache, broker = " ".join(services["cache"]["command"]), " ".join(services["redis"]["command"])
    assert "--maxmemory-policy allkeys-lru" in cache and "--maxmemory " in cache
    assert "--maxmemory-policy noeviction" in broker
    env = services["web"]["environment"]
    assert env["CACHE_URL"].startswith("redis://cache:") and "redis://redis:" in env["CELERY_BROKER_URL"]
