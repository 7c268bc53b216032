"""A real S3 endpoint for tests: moto's server mode (``moto_server``, from PyPI) on a free loopback port.

Why moto: it installs with pip (CI has no S3 service and no container runtime to spare), speaks the S3 REST API
over HTTP to boto3 exactly as SeaweedFS, Garage or a cloud store would, and enforces per-credential IAM policies
once its auth is switched on (``POST /moto-api/reset-auth``, moto's INITIAL_NO_AUTH_ACTION_COUNT): buckets and
users are made while auth is off, then every request is checked against the caller's own policy, so "the web's
keys are refused on a GT key" is tested against the server, not assumed. Pre-signed URLs (query-string SigV4), which
moto 5 leaves out of that check, are checked by ``tests/s3_presign_auth.py``, the script the server runs from. Its werkzeug request log (one line per
request: method, path, status) is what the tests count GT downloads in.

Roles, each with its own keys (docs/workers.md "Object storage"): ``web`` reads and writes the private bucket
only; ``worker`` also reads the GT bucket; ``importer`` writes both.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fixtures_live import _stop, free_port

PRIVATE_BUCKET, GT_BUCKET = "ehps-private", "ehps-gt"
ROLE_POLICIES = {
    "web": {PRIVATE_BUCKET: "rw"},
    "worker": {PRIVATE_BUCKET: "rw", GT_BUCKET: "r"},
    "importer": {PRIVATE_BUCKET: "rw", GT_BUCKET: "rw"},
}
_ACTIONS = {"r": ["s3:GetObject", "s3:ListBucket"],
            "rw": ["s3:GetObject", "s3:ListBucket", "s3:PutObject", "s3:DeleteObject"]}


def _policy(buckets: dict[str, str]) -> str:
    statements = [{"Effect": "Allow", "Action": _ACTIONS[mode],
                   "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}
                  for bucket, mode in buckets.items()]
    return json.dumps({"Version": "2012-10-17", "Statement": statements})


class MotoS3:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.log_path = workdir / "moto.log"
        self.keys: dict[str, tuple[str, str]] = {}
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        server = [sys.executable, str(Path(__file__).with_name("s3_presign_auth.py"))]  # moto_server + pre-signed auth
        self.log = open(self.log_path, "wb")
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "setup", "AWS_SECRET_ACCESS_KEY": "setup"}
        self.process = subprocess.Popen([*server, "-H", "127.0.0.1", "-p", str(self.port)], stdout=self.log,
                                        stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1)
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"moto_server did not start:\n{self.log_path.read_text()[-2000:]}")
                time.sleep(0.1)
        self._provision()

    def _client(self, service: str, key: tuple[str, str] = ("setup", "setup")):
        import boto3
        from botocore.config import Config

        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1",  # SigV4, pre-signed URLs too
                            aws_access_key_id=key[0], aws_secret_access_key=key[1],
                            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))

    def _provision(self) -> None:
        """Buckets, one IAM user per role with its own keys and policy; then every request is authorised."""
        s3, iam = self._client("s3"), self._client("iam")
        for bucket in (PRIVATE_BUCKET, GT_BUCKET):
            s3.create_bucket(Bucket=bucket)
        for role, buckets in ROLE_POLICIES.items():
            iam.create_user(UserName=role)
            iam.put_user_policy(UserName=role, PolicyName=f"{role}-buckets", PolicyDocument=_policy(buckets))
            key = iam.create_access_key(UserName=role)["AccessKey"]
            self.keys[role] = (key["AccessKeyId"], key["SecretAccessKey"])
        request = urllib.request.Request(f"{self.url}/moto-api/reset-auth", data=b"0", method="POST",
                                         headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(request, timeout=5).read()

    def client(self, role: str):
        return self._client("s3", self.keys[role])

    def env(self, role: str, gt: bool) -> dict[str, str]:
        """Settings of a process in ``role``; ``gt``: whether it is given the ground-truth keys at all."""
        key, secret = self.keys[role]
        env = {"EHPS_STORAGE": "s3", "S3_ENDPOINT_URL": self.url, "S3_PRIVATE_BUCKET": PRIVATE_BUCKET,
               "S3_PRIVATE_ACCESS_KEY_ID": key, "S3_PRIVATE_SECRET_ACCESS_KEY": secret, "S3_GT_BUCKET": GT_BUCKET}
        if gt:
            env.update(S3_GT_ACCESS_KEY_ID=key, S3_GT_SECRET_ACCESS_KEY=secret)
        return env

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the server has answered so far, from its log."""
        found = re.findall(r'"(GET|PUT|HEAD|POST|DELETE) (\S+) HTTP/[\d.]+" (\d{3})', self.log_path.read_text())
        return [(method, path, int(status)) for method, path, status in found]

    def downloads(self, bucket: str, prefix: str = "") -> int:
        """Object GETs answered 200 under ``bucket/prefix`` (listings are not downloads)."""
        return sum(1 for method, path, status in self.requests()
                   if method == "GET" and status == 200 and path.split("?")[0].startswith(f"/{bucket}/{prefix}")
                   and path.split("?")[0] != f"/{bucket}/")

    def stop(self) -> None:
        _stop(self.process)
        if self.process is not None:
            self.log.close()
