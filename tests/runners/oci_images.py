"""Build tiny but real OCI images for the runner tests, offline: no registry, no Dockerfile build.

The base layer is busybox plus Debian's ``/usr/bin/python3`` with its shared libraries and a trimmed
standard library. A submission is that base plus one layer holding the model script, packed in the
`docker save` / `podman save` archive layout (manifest.json, config JSON, one tar per layer), which is
exactly what users upload. The model scripts use only the standard library: an ``.npz`` is a zip of
``.npy`` files, so numpy is not needed inside the image.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

SYSTEM_PYTHON = Path("/usr/bin/python3.11")
BUSYBOX = Path("/bin/busybox")
STDLIB_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "__pycache__",
               "dist-packages", "site-packages", "config-3.11-x86_64-linux-gnu", "unittest", "distutils"}
BUSYBOX_APPLETS = ("sh", "sleep", "cat", "ls", "echo", "id", "true")


def _shared_libraries(binary: Path) -> list[Path]:
    out = subprocess.run(["ldd", str(binary)], check=True, capture_output=True, text=True).stdout
    return [Path(p) for p in re.findall(r"(/\S+\.so[\S]*) \(0x", out)] + [
        Path(p) for p in re.findall(r"^\s*(/\S+) \(0x", out, re.M)
    ]


def _copy_stdlib(src: Path, dst: Path) -> None:
    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in STDLIB_SKIP}
        if directory.endswith("lib-dynload"):
            skipped |= {n for n in names if "_test" in n or n.startswith("xx")}
        return skipped

    shutil.copytree(src, dst, ignore=ignore, symlinks=True)


def build_base_rootfs(root: Path) -> Path:
    """A minimal rootfs with busybox and Python 3.11 (stdlib only) under ``root``."""
    for d in ("bin", "usr/bin", "proc", "sys", "dev", "etc", "tmp", "input", "output"):
        (root / d).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin/busybox")
    for applet in BUSYBOX_APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    shutil.copy2(SYSTEM_PYTHON, root / "usr/bin/python3")
    for lib in set(_shared_libraries(SYSTEM_PYTHON)):
        target = root / lib.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(lib.resolve(), target)
    _copy_stdlib(Path("/usr/lib/python3.11"), root / "usr/lib/python3.11")
    (root / "etc/passwd").write_text("root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/tmp:/bin/sh\n")
    os.chmod(root / "tmp", 0o1777)
    return root


def _tar_dir(root: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return buf.getvalue()


def _tar_files(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _diff_id(layer: bytes) -> str:
    """The digest of a layer's uncompressed tar (what an image config lists)."""
    return "sha256:" + hashlib.sha256(gzip.decompress(layer) if layer[:2] == b"\x1f\x8b" else layer).hexdigest()


def zero_file_layer(size: int, name: str = "padding/zeros") -> bytes:
    """A gzipped layer with one file of ``size`` zero bytes: a few KiB that unpack to ``size`` (a bomb)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        info = tarfile.TarInfo(name)
        info.size = size
        tar.addfile(info, _Zeros(size))
    return buf.getvalue()


def many_files_layer(count: int) -> bytes:
    """A gzipped layer of ``count`` empty files (an inode bomb)."""
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb") as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        for i in range(count):
            tar.addfile(tarfile.TarInfo(f"many/{i:07d}"))
    return buf.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


class ImageFactory:
    """Makes submission archives and rootfs tars sharing one base layer built once per test session."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        base_root = build_base_rootfs(scratch / "base-rootfs")
        self.base_layer = _tar_dir(base_root)
        self._base_diff_id = "sha256:" + hashlib.sha256(self.base_layer).hexdigest()

    def docker_archive(self, name: str, script: str, tag: str | None = None, volumes: tuple[str, ...] = (),
                       extra_layers: tuple[bytes, ...] = ()) -> Path:
        """A `podman save`-style archive whose entry point runs ``script`` with the image's Python.

        ``volumes`` become the image's ``VOLUME`` declarations; ``extra_layers`` (tar or gzipped tar bytes)
        are stacked on top, in order.
        """
        layer = _tar_files({"model/run.py": script})
        layers = [("base/layer.tar", self.base_layer), ("model/layer.tar", layer)]
        layers += [(f"extra{i}/layer.tar", data) for i, data in enumerate(extra_layers)]
        image_config = {"Entrypoint": ["/usr/bin/python3", "/model/run.py"], "Env": ["PATH=/usr/bin:/bin"]}
        if volumes:
            image_config["Volumes"] = {v: {} for v in volumes}
        config = {
            "architecture": "amd64",
            "os": "linux",
            "config": image_config,
            "rootfs": {"type": "layers",
                       "diff_ids": [self._base_diff_id] + [_diff_id(data) for _, data in layers[1:]]},
        }
        config_bytes = json.dumps(config).encode()
        config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
        manifest = [{"Config": config_name, "RepoTags": [tag or f"localhost/ehps-test-{name}:latest"],
                     "Layers": [member for member, _ in layers]}]
        path = self.scratch / f"{name}.docker-archive.tar"
        with tarfile.open(path, "w") as tar:
            for member, data in (*layers, (config_name, config_bytes), ("manifest.json", json.dumps(manifest).encode())):
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        return path

    def rootfs_tar(self, name: str, script: str) -> Path:
        """A flat rootfs tar (the `podman import` flavour) with an executable ``/entrypoint``."""
        entrypoint = "#!/bin/sh\nexec /usr/bin/python3 /model/run.py\n"
        path = self.scratch / f"{name}.rootfs.tar"
        with tarfile.open(path, "w") as tar:
            with tarfile.open(fileobj=io.BytesIO(self.base_layer)) as base:
                for member in base.getmembers():
                    tar.addfile(member, base.extractfile(member) if member.isfile() else None)
            with tarfile.open(fileobj=io.BytesIO(_tar_files({"model/run.py": script, "entrypoint": entrypoint}))) as extra:
                for member in extra.getmembers():
                    tar.addfile(member, extra.extractfile(member))
        return path
