"""Private file storage: uploads, ground truth and held-out images.

The storage has no base URL, so Django can never build a public link to these files; the only way
out is a permission-checked view that streams a user's own upload back to them.
"""
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
