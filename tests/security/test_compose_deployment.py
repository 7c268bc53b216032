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


# Issue 23: a worker on another host, tried as a new host would.

@pytest.fixture(scope="module")
def worker_host() -> dict:
    return yaml.safe_load((ROOT / "deploy" / "worker-host.compose.yml").read_text())["services"]


def test_a_worker_host_needs_the_broker_database_and_store_only(worker_host):
    assert set(worker_host) == {"worker", "worker-gpu"}  # no PostgreSQL, no Redis: nothing empty to talk to
    for name, service in worker_host.items():
        assert "depends_on" not in service, name
        env = service["environment"]
        for key in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "S3_ENDPOINT_URL",
                    "S3_PRIVATE_ACCESS_KEY_ID", "S3_GT_ACCESS_KEY_ID"):
            assert env[key].startswith(f"${{{key}:?"), (name, key)  # unset: compose stops and says what to set
        assert env["EHPS_STORAGE"] == "s3" and env["SMPLX_MODEL_DIR"] == "/data/smplx"
        assert any(v.startswith("${SMPLX_HOST_DIR:?") and v.endswith(":/data/smplx:ro") for v in service["volumes"])
        assert service["healthcheck"]["test"][-2:] == ["-m", "workers.health"]
        assert "celery -A workers worker" in service["command"]
    assert worker_host["worker-gpu"]["environment"]["EVAL_DEVICE"] == "cuda"
    example = (ROOT / "deploy" / "worker-host.env.example").read_text()
    required = re.findall(r"\$\{(\w+):\?", (ROOT / "deploy" / "worker-host.compose.yml").read_text())
    assert set(required) <= set(re.findall(r"^(\w+)=", example, re.M))  # the example names every required value


def test_the_site_compose_creates_an_admin_and_keeps_its_services_local(services):
    init = services["init"]
    assert "migrate" in init["command"] and "ensure_admin" in init["command"] and init["restart"] == "no"
    assert {"DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"} <= set(init["environment"])
    for name in ("web", "worker", "beat", "worker-gpu"):
        assert services[name]["depends_on"]["init"] == {"condition": "service_completed_successfully"}, name
    assert services["init"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    env = services["worker"]["environment"]
    assert env["DATABASE_URL"].startswith("${DATABASE_URL:-") and env["CELERY_BROKER_URL"].startswith("${CELERY_BROKER_URL:-")
    assert "S3_GT_ACCESS_KEY_ID" not in services["web"]["environment"]  # the web never gets ground-truth keys


def test_the_image_ships_the_client_and_the_docs_say_how_to_mount_the_body_model():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^COPY client client$", dockerfile, re.M)
    assert '"ehps_client*"' in (ROOT / "pyproject.toml").read_text()  # `pip install .` installs it from client/
    workers_doc = (ROOT / "docs" / "workers.md").read_text()
    assert "SMPLX_HOST_DIR" in workers_doc and "deploy/worker-host.compose.yml" in workers_doc
