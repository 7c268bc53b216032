"""Where uploads wait while a request runs, and the clean-up of what killed requests leave behind.

Django spools files over FILE_UPLOAD_MAX_MEMORY_SIZE to FILE_UPLOAD_TEMP_DIR and deletes them when the request
ends; a web worker killed mid-request (timeout, OOM, restart) never gets there, and neither does the staging folder
of a validation in progress (PRIVATE_STORAGE_ROOT/tmp/upload-*). ``remove_stale_uploads`` deletes both once they
have been untouched for STALE_UPLOAD_AGE_S; the sweeper runs it, and so does gunicorn's start-up.
"""
from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler

log = logging.getLogger(__name__)

STAGING_PREFIX = "upload-"  # leaderboard.submissions.uploads.new_staging_dir


class BoundedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Django's temp-file handler, writing into our own folder and stopping a file past MAX_UPLOAD_BYTES.

    The upload guard already bounds the whole body by its Content-Length; this bounds each file on its own, so
    no view can be handed more than the limit whatever the body claimed.
    """

    def new_file(self, *args, **kwargs) -> None:
        Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True, exist_ok=True)
        super().new_file(*args, **kwargs)
        self._received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        self._received += len(raw_data)
        if self._received > settings.MAX_UPLOAD_BYTES:
            self.file.close()  # deletes the temporary file
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def _last_touched(path: Path) -> float:
    """Newest mtime of a file, or of a folder and everything in it (a validation writes as it goes)."""
    if not path.is_dir():
        return path.lstat().st_mtime
    return max([path.lstat().st_mtime, *(p.lstat().st_mtime for p in path.rglob("*"))])


def stale_upload_paths(max_age_s: float | None = None, now: float | None = None) -> list[Path]:
    max_age_s = settings.STALE_UPLOAD_AGE_S if max_age_s is None else max_age_s
    cutoff = (time.time() if now is None else now) - max_age_s
    candidates: list[Path] = []
    temp_dir = Path(settings.FILE_UPLOAD_TEMP_DIR)
    if temp_dir.is_dir():
        candidates += temp_dir.iterdir()
    staging_root = Path(settings.PRIVATE_STORAGE_ROOT) / "tmp"
    if staging_root.is_dir():
        candidates += staging_root.glob(f"{STAGING_PREFIX}*")
    stale = []
    for path in candidates:
        try:
            if _last_touched(path) < cutoff:
                stale.append(path)
        except FileNotFoundError:  # finished (and removed) by its request meanwhile
            continue
    return stale


def remove_stale_uploads(max_age_s: float | None = None) -> int:
    """Delete temp uploads and staging folders untouched for ``max_age_s`` (default STALE_UPLOAD_AGE_S)."""
    removed = 0
    for path in stale_upload_paths(max_age_s):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    if removed:
        log.warning("Removed %d stale upload file(s)/folder(s) left by interrupted requests", removed)
    return removed
