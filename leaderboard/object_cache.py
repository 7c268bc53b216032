"""A host's local, content-addressed copy of what it reads from an S3-compatible store.

Workers memory-map GT, GT meshes and predictions; an object store cannot be mapped, so every object is read
through this cache: ``objects/<sha[:2]>/<sha256>`` (the sha256 the writer stored in the object's metadata), so the
same content is downloaded once per host, whatever its name, and a replaced object is a new entry. Derived files
the evaluator keeps beside a GT file (``<sha256>.meshes/``, evaluator.gt_meshes) live and go with their entry.

Several worker processes share one cache folder:

- a download holds ``locks/<key>.lock`` (``flock``), writes a temporary file in the same folder, checks its
  sha256 and renames it into place, so a reader sees a whole, verified file or none, and one process downloads
  while the others wait for its result;
- each use touches the entry (mtime), and after a download ``OBJECT_CACHE_MAX_BYTES`` is restored by removing the
  least recently used entries under ``.evict.lock``; entries used in the last ``EVICT_GRACE_S`` are kept (a process
  may be about to open them). Removing a file another process has open or mapped is harmless on POSIX: its pages
  stay valid until it closes them.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

EVICT_GRACE_S = 60.0
_SAFE_KEY = re.compile(r"^[0-9a-zA-Z_-]{8,128}$")


class CacheIntegrityError(IOError):
    """A downloaded object's content does not match the sha256 its writer stored."""


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tree_size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


class ObjectCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = Path(root), max_bytes
        self.downloads = 0  # objects this instance fetched from the store (tests and benches read it)

    @classmethod
    def for_settings(cls) -> "ObjectCache":
        from django.conf import settings

        key = (str(settings.OBJECT_CACHE_DIR), settings.OBJECT_CACHE_MAX_BYTES)
        cache = _instances.get(key)
        if cache is None:
            cache = _instances[key] = cls(Path(key[0]), key[1])
        return cache

    def entry_path(self, key: str) -> Path:
        if not _SAFE_KEY.match(key):
            raise ValueError(f"bad cache key {key!r}")
        return self.root / "objects" / key[:2] / key

    # ------------------------------------------------------------ reading

    def fetch(self, storage, name: str) -> Path:
        """The local copy of object ``name`` of a django-storages S3 storage; FileNotFoundError if it is absent."""
        client, bucket = storage.bucket.meta.client, storage.bucket_name
        from botocore.exceptions import ClientError

        try:
            head = client.head_object(Bucket=bucket, Key=name)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                raise FileNotFoundError(name) from None
            raise
        sha = head.get("Metadata", {}).get("sha256", "")
        # Objects we wrote carry their sha256; anything else (a pre-signed upload) is keyed by its ETag and size.
        key = sha if re.fullmatch(r"[0-9a-f]{64}", sha) else \
            "etag-" + hashlib.sha256(f"{head['ETag']}:{head['ContentLength']}".encode()).hexdigest()
        path = self.entry_path(key)
        if not path.is_file():
            with _flock(self.root / "locks" / f"{key}.lock"):
                if not path.is_file():
                    self._download(client, bucket, name, path, sha if key == sha else None)
            self.evict(keep=path)
        os.utime(path)
        return path

    def _download(self, client, bucket: str, name: str, path: Path, sha: str | None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".download-")
        try:
            digest = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                body = client.get_object(Bucket=bucket, Key=name)["Body"]
                for chunk in body.iter_chunks(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
            if sha and digest.hexdigest() != sha:
                raise CacheIntegrityError(f"object {name!r} does not match its stored sha256")
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
            self.downloads += 1
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def fetch_folder(self, storage, prefix: str, names: list[str]) -> Path:
        """A folder with ``names`` (all under ``prefix``) at their relative paths, hard links to cached entries."""
        files = {name[len(prefix):].lstrip("/"): self.fetch(storage, name) for name in names}
        digest = hashlib.sha256("\n".join(f"{rel}\0{path.name}" for rel, path in sorted(files.items())).encode())
        folder = self.root / "folders" / digest.hexdigest()
        if not folder.is_dir():
            staging = Path(tempfile.mkdtemp(dir=self._mkdir("folders"), prefix=".assemble-"))
            for relative, path in files.items():
                target = staging / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
            try:
                staging.rename(folder)
            except OSError:  # another process assembled the same folder first
                shutil.rmtree(staging, ignore_errors=True)
        os.utime(folder)
        return folder

    def _mkdir(self, name: str) -> Path:
        path = self.root / name
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ------------------------------------------------------------ bounding

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every entry; an entry's derived ``.meshes`` folder counts with it."""
        found = []
        for path in (self.root / "objects").glob("*/*"):
            if path.name.startswith(".") or path.name.endswith(".meshes"):
                continue
            derived = path.with_name(path.name + ".meshes")
            try:
                found.append((path.stat().st_mtime, _tree_size(path) + _tree_size(derived), path))
            except FileNotFoundError:  # removed meanwhile by another process
                continue
        return found

    def size(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self, keep: Path | None = None) -> int:
        """Remove least recently used entries until the cache holds at most ``max_bytes``; returns bytes freed."""
        freed = 0
        with _flock(self.root / ".evict.lock"):
            entries = sorted(self.entries())
            total = sum(size for _, size, _ in entries)
            recent = time.time() - EVICT_GRACE_S
            for used, size, path in entries:
                if total <= self.max_bytes:
                    break
                if path == keep or used > recent:
                    continue
                path.unlink(missing_ok=True)
                shutil.rmtree(path.with_name(path.name + ".meshes"), ignore_errors=True)
                total -= size
                freed += size
            for folder in (self.root / "folders").glob("*"):  # hard-link folders: cheap, dropped once unused
                if folder.stat().st_mtime < recent:
                    shutil.rmtree(folder, ignore_errors=True)
        return freed


_instances: dict[tuple, ObjectCache] = {}
