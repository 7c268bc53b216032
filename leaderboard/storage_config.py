"""``settings.STORAGES`` entries for the private stores, from environment variables (no Django import here).

Kept apart from settings.py so the multi-host tests and benches build each "host's" stores from the same rules.
"""
from __future__ import annotations

from collections.abc import Mapping

BACKENDS = ("filesystem", "s3")


def _s3_store(env: Mapping[str, str], bucket_var: str, default_bucket: str, key_var: str, secret_var: str) -> dict:
    if not env.get(key_var):  # no keys: this process may not touch that bucket at all (the web and ground truth)
        return {"BACKEND": "leaderboard.storage.NoCredentialsStorage", "OPTIONS": {"what": f"bucket ${bucket_var}"}}
    return {"BACKEND": "leaderboard.storage.s3_storage", "OPTIONS": {
        "bucket_name": env.get(bucket_var, default_bucket),
        "access_key": env[key_var], "secret_key": env.get(secret_var, ""),
        "endpoint_url": env.get("S3_ENDPOINT_URL") or None, "region_name": env.get("S3_REGION", "us-east-1"),
        "addressing_style": "path", "signature_version": "s3v4", "file_overwrite": True, "default_acl": None,
        "querystring_auth": False,
    }}


def private_stores(env: Mapping[str, str]) -> dict[str, dict]:
    """The ``private`` and ``ground_truth`` STORAGES entries that ``EHPS_STORAGE`` (and the S3_* variables) ask for."""
    backend = env.get("EHPS_STORAGE", "filesystem")
    if backend not in BACKENDS:
        raise ValueError(f"EHPS_STORAGE must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if backend == "filesystem":
        return {"private": {"BACKEND": "leaderboard.storage.PrivateStorage"},
                "ground_truth": {"BACKEND": "leaderboard.storage.PrivateStorage"}}
    return {
        "private": _s3_store(env, "S3_PRIVATE_BUCKET", "ehps-private", "S3_PRIVATE_ACCESS_KEY_ID",
                             "S3_PRIVATE_SECRET_ACCESS_KEY"),
        "ground_truth": _s3_store(env, "S3_GT_BUCKET", "ehps-gt", "S3_GT_ACCESS_KEY_ID", "S3_GT_SECRET_ACCESS_KEY"),
    }
