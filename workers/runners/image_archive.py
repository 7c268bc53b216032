"""What a container upload is and what it unpacks to, read from the tar stream before any engine sees it.

Standard library only, so the web process can use `archive_kind` to refuse a wrong upload at once.
Two forms are accepted (docs/model_submissions.md):

- an image archive: ``podman save`` / ``docker save`` output (``manifest.json``) or an OCI archive
  (``oci-layout`` / ``index.json``), whose layers are tars, plain or gzip/bzip2/xz-compressed;
- a root filesystem tar with an executable ``/entrypoint`` (imported with ``podman import``).

`inspect_archive` counts what the engine would write to its store — the layers' unpacked bytes and
entries — and stops as soon as a cap is passed, so a small upload that inflates to gigabytes (or to
millions of empty files) is refused before ``podman load`` starts, not after it filled the disk.
"""
from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

ROOTFS_ENTRYPOINT = "/entrypoint"
IMAGE_MARKERS = frozenset({"manifest.json", "oci-layout", "index.json"})
TAR_HEADER_BYTES = 512  # what each entry costs at least, counted so that empty files are not free
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class ArchiveRefused(ValueError):
    """The upload is not an accepted container form or is over a cap; the message is for its owner."""


@dataclass(frozen=True)
class ArchiveInfo:
    kind: str  # "image-archive" | "rootfs"
    unpacked_bytes: int
    entries: int


def _name(member: tarfile.TarInfo) -> str:
    return member.name.removeprefix("./").rstrip("/")


class _Budget:
    """Running totals of unpacked bytes and entries; raises ArchiveRefused once a cap is passed."""

    def __init__(self, max_bytes: int, max_entries: int) -> None:
        self.max_bytes, self.max_entries = max_bytes, max_entries
        self.bytes = self.entries = 0

    def add(self, member: tarfile.TarInfo) -> None:
        self.entries += 1
        self.bytes += TAR_HEADER_BYTES + (member.size if member.isfile() else 0)
        if self.entries > self.max_entries:
            raise ArchiveRefused(f"the container image holds more than {self.max_entries} files; that is the limit")
        if self.bytes > self.max_bytes:
            raise ArchiveRefused(
                f"the container image unpacks to more than {self.max_bytes / 1024**2:.0f} MiB; that is the limit"
            )


def archive_kind(path: Path, max_entries: int = 1_000_000) -> str:
    """``"image-archive"`` or ``"rootfs"``, from the archive's member names (headers only)."""
    has_entrypoint = False
    try:
        with tarfile.open(path, "r|*") as tar:
            for count, member in enumerate(tar, 1):
                if count > max_entries:
                    raise ArchiveRefused(f"the container upload holds more than {max_entries} entries")
                name = _name(member)
                if name in IMAGE_MARKERS:
                    return "image-archive"
                if name == ROOTFS_ENTRYPOINT.lstrip("/") and (member.isfile() or member.issym()):
                    has_entrypoint = True
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRefused(f"the container upload is not a readable tar archive ({exc})") from None
    if has_entrypoint:
        return "rootfs"
    raise ArchiveRefused(
        "the container upload is neither an image archive (`podman save` / `docker save`: it has no "
        f"manifest.json or oci-layout) nor a root filesystem tar with an executable {ROOTFS_ENTRYPOINT}"
    )


def _count_layer(stream: io.BufferedReader, budget: _Budget) -> None:
    """Add a layer blob's unpacked contents to ``budget`` (a blob that is no tar, e.g. a config, counts as is)."""
    if stream.peek(4)[:4] == ZSTD_MAGIC:  # tarfile cannot read zstd, so it cannot be counted
        raise ArchiveRefused("the container image has a zstd-compressed layer; save it with gzip or no compression")
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as layer:
            for member in layer:
                budget.add(member)
    except tarfile.ReadError:
        pass  # not a tar (an image config or manifest): nothing the engine unpacks
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ArchiveRefused(f"a layer of the container image is corrupt ({exc})") from None


def inspect_archive(path: Path, max_bytes: int, max_entries: int) -> ArchiveInfo:
    """The upload's form and what it unpacks to; ArchiveRefused when it is neither form or over a cap."""
    kind = archive_kind(path, max_entries)
    budget = _Budget(max_bytes, max_entries)
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                if kind == "rootfs":
                    budget.add(member)
                elif member.isfile():
                    stream = tar.extractfile(member)
                    if stream is not None:
                        _count_layer(stream, budget)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveRefused(f"the container upload is not a readable tar archive ({exc})") from None
    return ArchiveInfo(kind, budget.bytes, budget.entries)


def archive_tags(path: Path, max_json_bytes: int = 1024**2) -> list[str]:
    """The image names an image archive asks the engine to tag (docker ``RepoTags``, OCI ref names)."""
    tags: list[str] = []
    try:
        with tarfile.open(path, "r|*") as tar:
            for member in tar:
                name = _name(member)
                if name not in ("manifest.json", "index.json") or not member.isfile() or member.size > max_json_bytes:
                    continue
                try:
                    data = json.loads(tar.extractfile(member).read())
                except (ValueError, AttributeError):
                    continue
                if name == "manifest.json" and isinstance(data, list):
                    tags += [t for entry in data if isinstance(entry, dict) for t in entry.get("RepoTags") or []]
                elif name == "index.json" and isinstance(data, dict):
                    tags += [m.get("annotations", {}).get("org.opencontainers.image.ref.name", "")
                             for m in data.get("manifests") or [] if isinstance(m, dict)]
    except (tarfile.TarError, OSError, EOFError):
        return []
    return [t for t in tags if isinstance(t, str) and t]
