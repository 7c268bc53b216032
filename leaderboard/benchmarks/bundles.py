"""Ground-truth bundles for imports started on the staff page: kept in the private store, unpacked by the worker.

A bundle is one file (an ``.npz``, a ``.json``...) or a ``.zip`` of the published files, read as the chosen
format (a path inside the zip names the file or folder to read; none: the zip's top folder). The page either
uploads it (``imports/<random>/<name>``, at most MAX_UPLOAD_BYTES; removed once the import ends) or names a file
an operator already put under ``bundles/`` in the private store (``leaderboard.storage``; larger bundles go there).
Only those two prefixes: a user's upload (``uploads/``) is never read as ground truth, so nothing a non-staff
user sent reaches the trusted readers (HumanData's pickle). Bundles are staff-trusted but still bounded: the
zip's member count and uncompressed size are checked before anything is written, and no member may leave its
folder. Format options that name a folder (``data_root``, ``images_root``) are resolved inside the bundle.
"""
from __future__ import annotations

import tempfile
import uuid
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.utils.text import get_valid_filename

from leaderboard.storage import PRIVATE, delete_file, exists, local_path, put_file
from leaderboard.submissions.archive_limits import ArchiveTooLarge, copy_member, format_size, zip_directory_size

STORED_PREFIX = "bundles/"  # where operators put bundles the page may name
UPLOAD_PREFIX = "imports/"  # where the page stages an uploaded bundle
PATH_OPTIONS = ("data_root", "images_root")  # format options naming a folder: resolved inside the bundle
SITE_REFUSED_OPTIONS = ("model_dir",)  # set by the server, never by the page
COPY_CHUNK = 1 << 20


class BundleError(ValueError):
    """The bundle cannot be used; the message names the problem."""


def stage_upload(uploaded) -> str:
    """Store an uploaded bundle (a Django UploadedFile) under ``imports/``; returns its private-store name."""
    limit = settings.MAX_UPLOAD_BYTES
    if uploaded.size is not None and uploaded.size > limit:
        raise BundleError(f"The bundle is {format_size(uploaded.size)}; uploads stop at {format_size(limit)}. Put larger "
                          f"bundles under {STORED_PREFIX} in the private store and name them instead.")
    name = f"{UPLOAD_PREFIX}{uuid.uuid4().hex}/{get_valid_filename(Path(uploaded.name).name) or 'bundle'}"
    with tempfile.NamedTemporaryFile(prefix="ehps-bundle-") as tmp:
        for chunk in uploaded.chunks(COPY_CHUNK):
            tmp.write(chunk)
        tmp.flush()
        put_file(PRIVATE, name, Path(tmp.name))
    return name


def checked_stored_name(name: str) -> str:
    """A bundle name the page may import from: under ``bundles/``, no ``..``, present in the private store."""
    name = name.strip()
    parts = PurePosixPath(name).parts
    if not name.startswith(STORED_PREFIX) or ".." in parts or name.startswith("/") or len(parts) < 2:
        raise BundleError(f"Name a file under {STORED_PREFIX} in the private store (e.g. {STORED_PREFIX}ehf.zip); "
                          f"got {name!r}.")
    if not exists(PRIVATE, name):
        raise BundleError(f"There is no {name} in the private store.")
    return name


def inside(root: Path, relative: str, what: str) -> Path:
    """``root/relative``, refused when it leaves ``root`` or is not there."""
    target = (root / relative).resolve()
    if target != root.resolve() and root.resolve() not in target.parents:
        raise BundleError(f"{what} {relative!r} leaves the bundle.")
    if not target.exists():
        raise BundleError(f"{what} {relative!r} is not in the bundle.")
    return target


def _extract(path: Path, root: Path, label: str) -> None:
    """Every member of the zip under ``root``, after checking the caps (members, declared and written bytes)."""
    found = zip_directory_size(path)
    members_cap, bytes_cap = settings.MAX_GT_BUNDLE_MEMBERS, settings.MAX_GT_BUNDLE_BYTES
    if found is None:
        raise BundleError(f"{label} is not a zip archive.")
    if found[0] > members_cap:
        raise BundleError(f"{label} lists {found[0]} members; the limit is {members_cap} (MAX_GT_BUNDLE_MEMBERS).")
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            if not any(not info.is_dir() for info in infos):
                raise BundleError(f"{label} holds no files (empty, or not a whole zip).")
            declared = sum(info.file_size for info in infos)
            if declared > bytes_cap:
                raise BundleError(f"{label} decompresses to {format_size(declared)}; the limit is {format_size(bytes_cap)} "
                                  "(MAX_GT_BUNDLE_BYTES).")
            written = 0
            for info in infos:
                target = root / info.filename
                if info.filename.startswith("/") or ".." in PurePosixPath(info.filename).parts:
                    raise BundleError(f"{label}: member {info.filename!r} leaves the bundle.")
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as member, open(target, "wb") as out:  # plain files only: no links
                    written = copy_member(member, out, written, bytes_cap, label)
    except ArchiveTooLarge as exc:
        raise BundleError(str(exc)) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
        raise BundleError(f"{label} is corrupt or unsupported ({exc}).") from None


def unpack(name: str, inner: str, work: Path) -> tuple[Path, Path | None]:
    """(the source to read, the unpacked folder or None) for bundle ``name``; ``inner``: a path in a ``.zip``."""
    label = PurePosixPath(name).name
    path = local_path(PRIVATE, name)
    if not name.lower().endswith(".zip"):
        if inner:
            raise BundleError(f"{label} is one file; a path inside the bundle needs a .zip bundle.")
        return path, None
    root = work / "bundle"
    root.mkdir()
    _extract(path, root, label)
    if inner:
        return inside(root, inner, "The path"), root
    entries = list(root.iterdir())
    return (entries[0] if len(entries) == 1 and entries[0].is_dir() else root), root


def resolved_options(options: dict, root: Path | None) -> dict:
    """Format options from the page with folder options made paths inside the unpacked bundle."""
    resolved = dict(options)
    for key in SITE_REFUSED_OPTIONS:
        if key in resolved:
            raise BundleError(f"Format option {key!r} is set by the server, not by the import page.")
    for key in PATH_OPTIONS:
        if key in resolved:
            if root is None:
                raise BundleError(f"Format option {key!r} names a folder inside the bundle; upload a .zip bundle.")
            resolved[key] = str(inside(root, str(resolved[key]), f"Format option {key}"))
    return resolved


def discard(name: str) -> None:
    """Remove an uploaded bundle once its import ended (a named ``bundles/`` file stays)."""
    if name.startswith(UPLOAD_PREFIX):
        delete_file(PRIVATE, name)
