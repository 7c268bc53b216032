"""The worker-local, content-addressed cache of objects read from an S3 store (leaderboard/object_cache.py), against
a real S3 endpoint (moto_server, tests/s3_server.py): one download per content, whatever its name or the number of
processes asking; a bounded size with least-recently-used eviction; a corrupted download refused."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from leaderboard.object_cache import CacheIntegrityError, ObjectCache
from tests.s3_server import GT_BUCKET, MotoS3


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    server = MotoS3(tmp_path_factory.mktemp("moto-cache"))
    server.start()
    yield server
    server.stop()


def bucket_storage(s3: MotoS3, role: str = "importer"):
    from storages.backends.s3 import S3Storage

    key, secret = s3.keys[role]
    return S3Storage(bucket_name=GT_BUCKET, access_key=key, secret_key=secret, endpoint_url=s3.url,
                     region_name="us-east-1", addressing_style="path")


def put(s3: MotoS3, key: str, data: bytes, sha: str | None = None) -> None:
    s3.client("importer").put_object(Bucket=GT_BUCKET, Key=key, Body=data,
                                     Metadata={"sha256": sha or hashlib.sha256(data).hexdigest()})


def test_same_content_is_downloaded_once_whatever_its_name(s3, tmp_path):
    put(s3, "cache/a.npz", b"a" * 1000)
    put(s3, "cache/copy-of-a.npz", b"a" * 1000)
    cache = ObjectCache(tmp_path, max_bytes=1 << 20)
    storage = bucket_storage(s3, "worker")
    first = cache.fetch(storage, "cache/a.npz")
    assert cache.fetch(storage, "cache/copy-of-a.npz") == first == cache.fetch(storage, "cache/a.npz")
    assert first.read_bytes() == b"a" * 1000 and cache.downloads == 1
    assert first.name == hashlib.sha256(b"a" * 1000).hexdigest() and oct(first.stat().st_mode)[-3:] == "600"
    with pytest.raises(FileNotFoundError):
        cache.fetch(storage, "cache/absent.npz")


def _fetch_in_process(args) -> tuple[str, int]:
    url, keys, root, name = args
    import django

    django.setup()
    server = MotoS3.__new__(MotoS3)
    server.port, server.keys = int(url.rsplit(":", 1)[1]), keys
    cache = ObjectCache(Path(root), max_bytes=1 << 30)
    path = cache.fetch(bucket_storage(server, "worker"), name)
    return hashlib.sha256(path.read_bytes()).hexdigest(), cache.downloads


def test_processes_sharing_a_cache_download_an_object_once(s3, tmp_path):
    data = os.urandom(3 << 20)
    put(s3, "cache/big.npz", data)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        answers = pool.map(_fetch_in_process, [(s3.url, s3.keys, str(tmp_path), "cache/big.npz")] * 3)
    assert {sha for sha, _ in answers} == {hashlib.sha256(data).hexdigest()}
    assert sum(downloads for _, downloads in answers) == 1  # the others waited on the lock and found the file
    assert not [p for p in tmp_path.rglob(".download-*")]  # no temporary file left behind


def test_least_recently_used_entries_go_first_and_derived_meshes_with_them(s3, tmp_path):
    cache = ObjectCache(tmp_path, max_bytes=3000)
    storage = bucket_storage(s3, "worker")
    paths = {}
    for name in ("old", "used", "new"):
        put(s3, f"lru/{name}", name.encode() * 400)
    for age, name in ((300, "old"), (200, "used")):
        paths[name] = cache.fetch(storage, f"lru/{name}")
        os.utime(paths[name], (time.time() - age, time.time() - age))
    meshes = paths["old"].with_name(paths["old"].name + ".meshes")
    (meshes / "key").mkdir(parents=True)
    (meshes / "key" / "shard-000000.npy").write_bytes(b"m" * 100)  # what evaluator.gt_meshes keeps beside a GT
    assert cache.size() == 3 * 400 + 4 * 400 + 100
    paths["new"] = cache.fetch(storage, "lru/new")  # 4,100 bytes > 3,000: the least recently used goes
    assert not paths["old"].exists() and not meshes.exists()
    assert paths["used"].exists() and paths["new"].exists() and cache.size() == 2800


def test_a_download_that_does_not_match_its_sha256_is_refused(s3, tmp_path):
    put(s3, "cache/tampered.npz", b"what is stored", sha=hashlib.sha256(b"what was written").hexdigest())
    cache = ObjectCache(tmp_path, max_bytes=1 << 20)
    with pytest.raises(CacheIntegrityError):
        cache.fetch(bucket_storage(s3, "worker"), "cache/tampered.npz")
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and "objects" in p.parts]
