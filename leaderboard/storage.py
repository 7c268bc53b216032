"""Private file storage: uploads, ground truth, held-out images, per-sample results and model artefacts.

Two named Django storages (``settings.STORAGES``), chosen by ``EHPS_STORAGE``:

- ``private`` (``PRIVATE``): uploads, validated predictions, per-sample results, model artefacts, the public
  sample-id lists. The web process and the workers read and write it.
- ``ground_truth`` (``GROUND_TRUTH``): GT files and held-out images. The importer writes it, workers read it; with
  S3 the web process has no credentials for it at all (``NoCredentialsStorage``), so a web bug cannot leak GT.

``filesystem`` (the default, ``scripts/serve``): both are ``PRIVATE_STORAGE_ROOT`` on the local disk, as before.
``s3``: two buckets of any S3-compatible store (django-storages / boto3), each with its own keys. Workers and the
web read through ``local_path``: on the filesystem the file itself, on S3 a copy in the host's content-addressed
cache (``leaderboard.object_cache``), so the evaluator memory-maps local files either way.

No storage has a base URL, so Django can never build a public link to these files, and nothing here ever signs a
URL for ground truth. On disk the root is 0700 and what we write under it is 0600 (files) / 0700 (folders).
"""
from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages

from ehps_client.hashing import file_sha256

PRIVATE, GROUND_TRUTH = "private", "ground_truth"
SHA256_METADATA = "sha256"  # S3 user metadata every object we write carries: the cache key of its content
COPY_CHUNK = 1 << 20


class PrivateStorage(FileSystemStorage):
    """PRIVATE_STORAGE_ROOT on the local disk, read from the settings at each use (tests override it)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(base_url=None, **kwargs)

    @property
    def base_location(self) -> str:  # type: ignore[override]
        return str(settings.PRIVATE_STORAGE_ROOT)

    @property
    def location(self) -> str:  # type: ignore[override]
        return os.path.abspath(self.base_location)

    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no URL.")


def _s3_storage_class():
    from storages.backends.s3 import S3Storage

    class PrivateS3Storage(S3Storage):
        """One bucket of an S3-compatible store; never builds a URL (no public or pre-signed GET links)."""

        def url(self, name, parameters=None, expire=None, http_method=None) -> str:
            raise ValueError("Private files have no URL.")

    return PrivateS3Storage


def s3_storage(**options):
    """``STORAGES`` backend factory for an S3 bucket (django-storages imported only when S3 is configured)."""
    return _s3_storage_class()(**options)


class NoCredentialsStorage(Storage):
    """Stands for a store this process holds no keys for (the web process and ground truth)."""

    def __init__(self, what: str = "this store") -> None:
        self.what = what

    def _refuse(self, *args, **kwargs):
        raise PermissionError(f"This process has no credentials for {self.what}.")

    _open = _save = delete = exists = listdir = size = url = _refuse


def private_storage() -> Storage:
    """Callable for ``FileField(storage=...)`` so migrations do not freeze the backend."""
    return storages[PRIVATE]


def is_local(kind: str = PRIVATE) -> bool:
    """Whether ``kind`` is the local filesystem (the default), where files can be renamed into place."""
    return isinstance(storages[kind], FileSystemStorage)


def private_path(relative: str) -> Path:
    """Absolute path of a file under PRIVATE_STORAGE_ROOT, refusing paths that escape it."""
    root = Path(settings.PRIVATE_STORAGE_ROOT).resolve()
    path = (root / relative).resolve()
    if root not in path.parents and path != root:
        raise ValueError(f"Path {relative!r} escapes the private storage root.")
    return path


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def private_root() -> Path:
    """PRIVATE_STORAGE_ROOT, created (or tightened) to 0700 so nothing under it is reachable by others."""
    root = Path(settings.PRIVATE_STORAGE_ROOT)
    root.mkdir(parents=True, exist_ok=True)
    if stat.S_IMODE(root.stat().st_mode) != PRIVATE_DIR_MODE:
        os.chmod(root, PRIVATE_DIR_MODE)
    return root


def make_private(path: Path) -> None:
    """``path`` and, for a folder, everything below it: files 0600, folders 0700 (links are left alone)."""
    paths = [path, *path.rglob("*")] if path.is_dir() else [path]
    for item in paths:
        mode = item.lstat().st_mode
        if stat.S_ISDIR(mode):
            os.chmod(item, PRIVATE_DIR_MODE)
        elif stat.S_ISREG(mode):
            os.chmod(item, PRIVATE_FILE_MODE)


# ---------------------------------------------------------------- the storage API the web and workers use


def _store(kind: str) -> Storage:
    storage = storages[kind]
    if isinstance(storage, NoCredentialsStorage):
        storage._refuse()
    return storage


def put_file(kind: str, name: str, source: Path) -> None:
    """Store the local file ``source`` as ``name`` (replacing it whole: readers never see half a file)."""
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        target = Path(storage.path(name))
        private_root()
        target.parent.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as out, open(source, "rb") as src:
                shutil.copyfileobj(src, out, COPY_CHUNK)
            os.chmod(tmp, PRIVATE_FILE_MODE)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    key = storage._normalize_name(name)
    extra = {"Metadata": {SHA256_METADATA: file_sha256(source)}}
    storage.bucket.upload_file(str(source), key, ExtraArgs=extra)


def put_bytes(kind: str, name: str, data: bytes) -> None:
    with tempfile.NamedTemporaryFile(prefix="ehps-put-") as tmp:
        tmp.write(data)
        tmp.flush()
        put_file(kind, name, Path(tmp.name))


def put_folder(kind: str, prefix: str, source: Path) -> None:
    """Every file under ``source`` as ``prefix/<relative path>``."""
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        put_file(kind, f"{prefix}/{path.relative_to(source).as_posix()}", path)


def exists(kind: str, name: str) -> bool:
    return _store(kind).exists(name)


def open_file(kind: str, name: str) -> IO[bytes]:
    """A binary file object (local file or streamed object); FileNotFoundError when absent."""
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        return open(storage.path(name), "rb")
    if not storage.exists(name):
        raise FileNotFoundError(name)
    return storage.open(name, "rb")


def list_names(kind: str, prefix: str) -> list[str]:
    """Every file name under ``prefix`` (recursively), sorted."""
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        root = Path(storage.path(prefix))
        return sorted(f"{prefix}/{p.relative_to(root).as_posix()}" for p in root.rglob("*") if p.is_file()) \
            if root.is_dir() else []
    pages = storage.bucket.meta.client.get_paginator("list_objects_v2").paginate(
        Bucket=storage.bucket_name, Prefix=storage._normalize_name(prefix).rstrip("/") + "/")
    return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))


def delete_file(kind: str, name: str) -> None:
    """Remove ``name``; no error when it is not there (both backends' ``delete`` ignore a missing file)."""
    _store(kind).delete(name)


def delete_prefix(kind: str, prefix: str) -> None:
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        shutil.rmtree(storage.path(prefix), ignore_errors=True)
        return
    for name in list_names(kind, prefix):
        storage.delete(name)


def copy_prefix(kind: str, source: str, target: str, skip: tuple[str, ...] = ()) -> None:
    """Copy every file under ``source`` to ``target`` (server-side on S3); ``skip``: first-level folders left out."""
    storage = _store(kind)
    for name in list_names(kind, source):
        relative = name[len(source) + 1:]
        if relative.split("/", 1)[0] in skip:
            continue
        if isinstance(storage, FileSystemStorage):
            put_file(kind, f"{target}/{relative}", Path(storage.path(name)))
        else:
            storage.bucket.copy({"Bucket": storage.bucket_name, "Key": name}, f"{target}/{relative}")


INCOMING_PREFIX = "incoming/"  # direct uploads land here, untrusted until a worker has checked them


class DirectUploadUnavailable(Exception):
    """This server's store cannot take uploads directly (the filesystem backend)."""


def presigned_put(name: str, size: int, expires_s: int) -> str:
    """A URL that lets its holder PUT exactly ``size`` bytes as ``name`` in the private store, for ``expires_s``.

    Only for names under ``incoming/`` of the private bucket: nothing ever signs a URL for ground truth or held-out
    images, nor for a file the workers already trust. The length is a signed header, so the store refuses any
    other body; the worker still checks size, sha256 and format before anything reads the object.
    """
    if not name.startswith(INCOMING_PREFIX) or ".." in name.split("/"):
        raise ValueError(f"Only direct-upload names under {INCOMING_PREFIX!r} are ever signed, not {name!r}.")
    storage = _store(PRIVATE)
    if isinstance(storage, FileSystemStorage):
        raise DirectUploadUnavailable("This server keeps files on its own disk (EHPS_STORAGE=filesystem).")
    client = storage.connection.meta.client
    if settings.S3_PRESIGN_ENDPOINT_URL:  # the address clients reach the store at (signing makes no request)
        import boto3

        client = boto3.client("s3", endpoint_url=settings.S3_PRESIGN_ENDPOINT_URL, region_name=client.meta.region_name,
                              aws_access_key_id=storage.access_key, aws_secret_access_key=storage.secret_key,
                              config=client.meta.config)
    params = {"Bucket": storage.bucket_name, "Key": storage._normalize_name(name), "ContentLength": size}
    return client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires_s, HttpMethod="PUT")


def stored_size(kind: str, name: str) -> int | None:
    """The size of a stored file (a HEAD on S3, nothing downloaded); None when there is none."""
    storage = _store(kind)
    try:
        return storage.size(name)
    except OSError:
        return None
    except Exception as exc:  # botocore's 404 on HEAD
        if getattr(exc, "response", {}).get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise


def local_path(kind: str, name: str) -> Path:
    """A local file with the content of ``name``: the file itself on the filesystem, else the host's cached copy.

    FileNotFoundError when there is no such file. The cached copy is keyed by the object's sha256 (its metadata),
    so a second read of the same content downloads nothing, and a replaced object is a new cache entry.
    """
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        path = Path(storage.path(name))
        if not path.is_file():
            raise FileNotFoundError(name)
        return path
    from leaderboard.object_cache import ObjectCache

    return ObjectCache.for_settings().fetch(storage, storage._normalize_name(name))


def local_folder(kind: str, prefix: str) -> Path:
    """A local folder with every file under ``prefix`` (held-out images); on S3 assembled from cached files."""
    storage = _store(kind)
    if isinstance(storage, FileSystemStorage):
        path = Path(storage.path(prefix))
        if not path.is_dir():
            raise FileNotFoundError(prefix)
        return path
    from leaderboard.object_cache import ObjectCache

    names = list_names(kind, prefix)
    if not names:
        raise FileNotFoundError(prefix)
    return ObjectCache.for_settings().fetch_folder(storage, prefix, names)
