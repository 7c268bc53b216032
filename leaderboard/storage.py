"""Private file storage: uploads, ground truth and held-out images.

The storage has no base URL, so Django can never build a public link to these files; the only way
out is a permission-checked view that streams a user's own upload back to them. On disk the root is
0700 and what we write under it is 0600 (files) / 0700 (folders): other accounts on the machine read
nothing, whatever their umask left. Model runs bind a world-readable copy of the images, never these.
"""
import os
import stat
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage


class PrivateStorage(FileSystemStorage):
    def __init__(self) -> None:
        super().__init__(location=str(settings.PRIVATE_STORAGE_ROOT), base_url=None)

    def url(self, name: str | None) -> str:
        raise ValueError("Private files have no URL.")


def private_storage() -> PrivateStorage:
    """Callable for ``FileField(storage=...)`` so migrations do not freeze the path."""
    return PrivateStorage()


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
