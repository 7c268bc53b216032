"""Upload validation and storage, shared by the web form and the API.

Every check runs on a copy in a staging folder under PRIVATE_STORAGE_ROOT/tmp/ (same file system, so the final
move is a rename). Only when everything passed does the caller create the Submission row and move the staged
folder to ``uploads/<uuid>/``; on any error the staging folder is removed, so nothing is stored half-way.

Predictions arrive as one ``.npz`` (for one benchmark) or a ``.zip`` whose members are ``<benchmark slug>.npz``.
An ``.npz`` is itself a zip of ``.npy`` members, so both are opened with ``zipfile`` first: declared sizes are
checked against MAX_UNCOMPRESSED_BYTES before anything is decompressed, zip members are extracted in a
streaming way with a running byte count (a lying header cannot inflate past the limit), and every ``.npy``
header is read to refuse object arrays (never unpickled) and shapes that do not fit the member's size.
"""
from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import uuid
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.archive_limits import (
    ArchiveTooLarge, check_zip_members, copy_member, format_size, tar_member_names,
)
from leaderboard.benchmarks.services import public_sample_ids
from leaderboard.storage import PRIVATE, is_local, make_private, private_root, put_folder
from leaderboard.submissions.models import SubmissionKind

COPY_CHUNK = 1024 * 1024
PREDICTIONS_DIR = "predictions"
# Members that make a tar one of the container forms (workers.runners.image_archive reads the same forms).
CONTAINER_MARKERS = frozenset({"index.json", "manifest.json", "oci-layout", "entrypoint"})
MODEL_FILE_NAMES = {SubmissionKind.CONTAINER: "model-image.tar", SubmissionKind.MODEL_ARCHIVE: "model-archive.zip"}


class UploadError(ValueError):
    """A problem with the uploaded file or form, written for the submitter. Answered with ``status_code``."""

    status_code = 400
    code = "invalid_upload"  # the API's "error" value

    def __init__(self, message: str, field: str = "file") -> None:
        super().__init__(message)
        self.field = field


class UploadTooLarge(UploadError):
    status_code = 413


class PhaseClosedError(UploadError):
    """No phase of a chosen benchmark is open now (the message names its phases and dates)."""

    status_code = 403
    code = "phase_closed"


def check_declared_size(size: int | None) -> None:
    """Refuse an upload larger than MAX_UPLOAD_BYTES (from the Content-Length or the parsed file's size)."""
    if size is not None and size > settings.MAX_UPLOAD_BYTES:
        raise UploadTooLarge(
            f"The upload is {format_size(size)}; the limit is {format_size(settings.MAX_UPLOAD_BYTES)}."
        )


def check_request_size(meta: dict) -> None:
    """Refuse an oversized request from its Content-Length, before Django reads the body to disk."""
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return  # a malformed header: Django's parser rejects the body itself
    check_declared_size(length)


@dataclass
class StagedUpload:
    """A validated upload waiting in a staging folder; ``commit`` moves it under ``uploads/<uuid>/``."""

    kind: str
    benchmarks: list[Benchmark]
    staging_dir: Path
    upload_relpath: str  # the file kept as Submission.upload, relative to the upload folder
    sha256: str
    size: int
    original_name: str
    sample_counts: dict[str, int] = field(default_factory=dict)

    def commit(self, submission) -> None:
        """Move the staged files to the submission's folder and point ``submission.upload`` at the kept file."""
        if is_local(PRIVATE):
            target = private_root() / "uploads" / str(submission.uuid)
            target.parent.mkdir(parents=True, exist_ok=True)
            self.staging_dir.rename(target)  # atomic on one file system; target must not exist
            self.staging_dir = target
            make_private(target)
        else:  # an object store: the staged files are uploaded, then the local staging folder goes
            put_folder(PRIVATE, f"uploads/{submission.uuid}", self.staging_dir)
            self.discard()
        submission.upload.name = f"uploads/{submission.uuid}/{self.upload_relpath}"
        submission.upload_sha256 = self.sha256
        submission.upload_size = self.size

    def discard(self) -> None:
        shutil.rmtree(self.staging_dir, ignore_errors=True)


@dataclass
class IncomingObject:
    """A file PUT straight into the store (a direct upload, ``direct_uploads``): its key under ``incoming/`` and the
    name, size and sha256 its uploader declared. Untrusted until a worker has checked it (``direct_uploads.verify``)."""

    key: str
    name: str
    size: int
    sha256: str


class IncomingUpload(StagedUpload):
    """A direct upload staged in the store itself: ``commit`` points the submission at the incoming object."""

    def __init__(self, incoming: IncomingObject, kind: str, benchmarks: list[Benchmark]) -> None:
        super().__init__(kind, benchmarks, Path(), incoming.key, incoming.sha256, incoming.size, incoming.name)

    def commit(self, submission) -> None:
        submission.upload.name = self.upload_relpath
        submission.upload_sha256, submission.upload_size = self.sha256, self.size

    def discard(self) -> None:  # nothing local; an object never completed is left to the bucket's lifecycle rule
        pass


def _stage_incoming(incoming: IncomingObject, kind: str, chosen: list[Benchmark]) -> IncomingUpload:
    """The checks that need no byte of the file (declared size, benchmarks); the worker does the rest."""
    check_declared_size(incoming.size)
    if incoming.size < 1:
        raise UploadError(f"{incoming.name}: the file is empty.")
    if not chosen:
        raise UploadError("Name the benchmark(s) of a direct upload.", field="benchmark")
    if kind == SubmissionKind.PREDICTIONS:
        refuse_models_only(chosen)
    else:
        refuse_predictions_only(chosen)
    return IncomingUpload(incoming, kind, chosen)


def new_staging_dir() -> Path:
    root = private_root() / "tmp"
    root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"upload-{uuid.uuid4().hex[:8]}-", dir=root))


def copy_with_hash(source, destination: Path) -> tuple[str, int]:
    """Stream an uploaded file to ``destination``; return (sha256, size). Stops at MAX_UPLOAD_BYTES."""
    digest, size = hashlib.sha256(), 0
    if hasattr(source, "seek"):
        source.seek(0)
    chunks = source.chunks(COPY_CHUNK) if hasattr(source, "chunks") else iter(lambda: source.read(COPY_CHUNK), b"")
    with open(destination, "wb") as out:
        for chunk in chunks:
            size += len(chunk)
            check_declared_size(size)
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest(), size


def open_zip(path: Path, label: str) -> zipfile.ZipFile:
    """``zipfile.ZipFile(path)`` once the member count is known to be under MAX_ARCHIVE_MEMBERS."""
    try:
        check_zip_members(path, label)
    except ArchiveTooLarge as exc:
        raise UploadError(str(exc)) from None
    return zipfile.ZipFile(path)


def prediction_keys(benchmark: Benchmark | None = None) -> frozenset[str]:
    """Every key a predictions .npz may hold (the evaluator's loader refuses others, but only after loading): the
    benchmark's protocol says (``Protocol.prediction_keys``; a multi-person file has ``image_ids``, ``joints2d``...)."""
    from evaluator.protocols import get_protocol

    return (benchmark.get_protocol() if benchmark is not None else get_protocol("smplx-generic")).prediction_keys()


# --- npz internals -------------------------------------------------------------------------------------------

def check_npz_structure(path: Path, label: str, allowed_keys: frozenset[str] | None = None) -> None:
    """Refuse a non-npz, an npz bomb, an unknown key or an object array, reading only zip directories and
    .npy headers: nothing is decompressed before every member is known to be an expected key."""
    if not zipfile.is_zipfile(path):
        raise UploadError(f"{label}: not an .npz file (numpy.savez output is a zip archive; this file is not one).")
    try:
        with open_zip(path, label) as archive:
            infos = archive.infolist()
            if not infos:
                raise UploadError(f"{label}: the .npz archive is empty.")
            if allowed_keys is not None:
                unknown = sorted({i.filename.removesuffix(".npy") for i in infos} - allowed_keys)
                if unknown:
                    raise UploadError(f"{label}: unknown keys {unknown[:10]}; allowed: {sorted(allowed_keys)}.")
            total = sum(info.file_size for info in infos)
            if total > settings.MAX_UNCOMPRESSED_BYTES:
                raise UploadError(
                    f"{label}: its arrays decompress to {format_size(total)}, over the limit of "
                    f"{format_size(settings.MAX_UNCOMPRESSED_BYTES)}."
                )
            for info in infos:
                if not info.filename.endswith(".npy") or "/" in info.filename or info.is_dir():
                    raise UploadError(f"{label}: unexpected member '{info.filename}' (an .npz holds only <key>.npy arrays).")
                _check_npy_header(archive, info, label)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{label}: corrupt .npz archive ({exc}).") from None


def _check_npy_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> None:
    key = info.filename[: -len(".npy")]
    try:
        with archive.open(info) as member:
            version = np.lib.format.read_magic(member)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(member)
            elif version in ((2, 0), (3, 0)):
                shape, _, dtype = np.lib.format.read_array_header_2_0(member)
            else:
                raise ValueError(f"unsupported .npy version {version}")
    except UploadError:
        raise
    except Exception as exc:  # numpy raises ValueError/OSError/… on garbage headers
        raise UploadError(f"{label}: key '{key}' is not a valid .npy array ({exc}).") from None
    if dtype.hasobject:
        raise UploadError(
            f"{label}: key '{key}' is an object array (dtype {dtype}); use numeric arrays and a string array "
            "for sample_ids. Object arrays are never unpickled."
        )
    needed = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if needed > info.file_size:
        raise UploadError(f"{label}: key '{key}' declares shape {tuple(shape)} but the member holds only {info.file_size} bytes.")


def validate_predictions(path: Path, benchmark: Benchmark, label: str) -> int:
    """Full check of one predictions file against the benchmark's public sample ids; returns the sample count.

    Uses the evaluator's own loader and matcher (``Protocol.check_prediction_file``: the benchmark's protocol says
    what a file holds; for a multi-person benchmark, people of whole images, each named by its image id), so the web
    refuses exactly what the workers would refuse.
    """
    from evaluator.formats import FormatError

    check_npz_structure(path, label, prediction_keys(benchmark))
    try:
        return benchmark.get_protocol().check_prediction_file(path, public_sample_ids(benchmark), label)
    except FormatError as exc:
        raise UploadError(str(exc)) from None


# --- bundles of predictions ----------------------------------------------------------------------------------

def extract_bundle(path: Path, destination: Path, label: str, allowed: dict[str, Benchmark]) -> list[Benchmark]:
    """Extract ``<slug>.npz`` members of a zip into ``destination`` in a streaming way; return their benchmarks."""
    from evaluator.formats import FormatError, bundle_slugs

    try:
        archive = open_zip(path, label)
    except zipfile.BadZipFile as exc:
        raise UploadError(f"{label}: corrupt zip archive ({exc}).") from None
    limit = settings.MAX_UNCOMPRESSED_BYTES
    with archive:
        infos = archive.infolist()
        try:  # the member rules of the light client's checker (ehps check): one implementation
            slugs = bundle_slugs([info.filename for info in infos], label)
        except FormatError as exc:
            raise UploadError(f"{exc}; active benchmarks: {', '.join(sorted(allowed))}.") from None
        seen: dict[str, Benchmark] = {}
        for slug in slugs:
            if slug not in allowed:
                raise UploadError(f"{label}: member '{slug}.npz' does not name an active benchmark ({', '.join(sorted(allowed))}).")
            seen[slug] = allowed[slug]
        declared = sum(info.file_size for info in infos)
        if declared > limit:
            raise UploadError(f"{label}: its members decompress to {format_size(declared)}, over the limit of {format_size(limit)}.")
        written = 0
        for info in infos:
            try:
                with archive.open(info) as member, open(destination / info.filename, "wb") as out:
                    written = copy_member(member, out, written, limit, label)
            except ArchiveTooLarge as exc:
                raise UploadError(str(exc)) from None
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError) as exc:
                # sizes or checksums that do not match the data, unsupported compression, encrypted members
                raise UploadError(f"{label}: member '{info.filename}' is corrupt or unsupported ({exc}).") from None
    return list(seen.values())


def _is_npz(path: Path, label: str) -> bool:
    """An npz is a zip whose members are all .npy arrays."""
    try:
        with open_zip(path, label) as archive:
            names = archive.namelist()
    except zipfile.BadZipFile:
        return False
    return bool(names) and all(n.endswith(".npy") for n in names)


# --- entry point ---------------------------------------------------------------------------------------------

def active_benchmarks() -> dict[str, Benchmark]:
    return {b.slug: b for b in Benchmark.objects.filter(is_active=True)}


def resolve_benchmarks(slugs: list[str], allowed: dict[str, Benchmark]) -> list[Benchmark]:
    unknown = [s for s in slugs if s not in allowed]
    if unknown:
        raise UploadError(
            f"Unknown or inactive benchmark(s): {', '.join(unknown)}. Active: {', '.join(sorted(allowed)) or 'none'}.",
            field="benchmark",
        )
    return [allowed[s] for s in dict.fromkeys(slugs)]


def stage_upload(uploaded_file, kind: str, benchmark_slugs: list[str]) -> StagedUpload:
    """Validate ``uploaded_file`` and stage it. Raises UploadError (4xx) with a message naming the problem."""
    if uploaded_file is None:
        raise UploadError("No file uploaded.")
    if kind not in SubmissionKind.values:
        raise UploadError(f"Unknown submission kind '{kind}'; choose one of {', '.join(SubmissionKind.values)}.", field="kind")
    check_declared_size(getattr(uploaded_file, "size", None))
    original_name = Path(getattr(uploaded_file, "name", "") or "upload").name
    allowed = active_benchmarks()
    chosen = resolve_benchmarks(benchmark_slugs, allowed)
    if isinstance(uploaded_file, IncomingObject):
        return _stage_incoming(uploaded_file, kind, chosen)
    staging = new_staging_dir()
    try:
        raw = staging / "original.upload"
        sha256, size = copy_with_hash(uploaded_file, raw)
        if size == 0:
            raise UploadError(f"{original_name}: the file is empty.")
        if kind == SubmissionKind.PREDICTIONS:
            staged = _stage_predictions(raw, staging, original_name, chosen, allowed)
        else:
            staged = _stage_model(raw, staging, original_name, kind, chosen)
        staged.sha256, staged.size = sha256, size
        return staged
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def refuse_models_only(benchmarks: list[Benchmark]) -> None:
    """Predictions for a models-only benchmark are refused before any matching (whose errors would list its ids)."""
    models_only = sorted(b.slug for b in benchmarks if not b.accepts_predictions)
    if models_only:
        raise UploadError(
            f"Benchmark(s) {', '.join(models_only)} accept models only (their inputs are held out on this server): "
            "submit a container image or a TorchScript archive instead of a predictions file.",
            field="benchmark",
        )


def refuse_predictions_only(benchmarks: list[Benchmark]) -> None:
    """A model for a benchmark without held-out images on this server is refused before anything runs."""
    refusing = [b.slug for b in benchmarks if not b.accepts_models]
    if refusing:
        raise UploadError(
            f"Benchmark(s) {', '.join(refusing)} accept predictions files only, not models (no held-out images on this server).",
            field="benchmark",
        )


def _stage_predictions(raw: Path, staging: Path, name: str, chosen: list[Benchmark], allowed: dict[str, Benchmark]) -> StagedUpload:
    refuse_models_only(chosen)
    predictions_dir = staging / PREDICTIONS_DIR
    predictions_dir.mkdir()
    if not zipfile.is_zipfile(raw):
        raise UploadError(f"{name}: not an .npz or .zip file (expected numpy.savez output, or a zip of <benchmark>.npz files).")
    if _is_npz(raw, name):
        if len(chosen) != 1:
            raise UploadError(
                f"{name} is a single .npz: choose exactly one benchmark for it "
                "(or upload a .zip of <benchmark>.npz files for several).",
                field="benchmark",
            )
        benchmark = chosen[0]
        target = predictions_dir / f"{benchmark.slug}.npz"
        raw.rename(target)  # the predictions file is the upload: no second copy
        count = validate_predictions(target, benchmark, name)
        return StagedUpload(SubmissionKind.PREDICTIONS, [benchmark], staging, f"{PREDICTIONS_DIR}/{benchmark.slug}.npz", "", 0, name, {benchmark.slug: count})
    benchmarks = extract_bundle(raw, predictions_dir, name, allowed)
    refuse_models_only(benchmarks)
    if chosen and {b.slug for b in chosen} != {b.slug for b in benchmarks}:
        raise UploadError(
            f"{name} holds predictions for {', '.join(sorted(b.slug for b in benchmarks))} but you selected "
            f"{', '.join(sorted(b.slug for b in chosen))}; leave the benchmark empty for a zip, or make them match.",
            field="benchmark",
        )
    counts = {b.slug: validate_predictions(predictions_dir / f"{b.slug}.npz", b, f"{name}/{b.slug}.npz") for b in benchmarks}
    kept = f"bundle{Path(name).suffix.lower() or '.zip'}"
    raw.rename(staging / kept)
    return StagedUpload(SubmissionKind.PREDICTIONS, benchmarks, staging, kept, "", 0, name, counts)


def _stage_model(raw: Path, staging: Path, name: str, kind: str, chosen: list[Benchmark]) -> StagedUpload:
    if not chosen:
        raise UploadError("Choose at least one benchmark for the model to run on.", field="benchmark")
    refuse_predictions_only(chosen)
    if kind == SubmissionKind.CONTAINER:
        if not tarfile.is_tarfile(raw):
            raise UploadError(f"{name}: not a container image archive (expected `podman save --format oci-archive` or `docker save` output, a tar file).")
        try:
            names = tar_member_names(raw, name)
        except ArchiveTooLarge as exc:
            raise UploadError(str(exc)) from None
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise UploadError(f"{name}: corrupt tar archive ({exc}).") from None
        if not names & CONTAINER_MARKERS:  # docs/model_submissions.md, "Form 1": the forms the runner loads
            raise UploadError(
                f"{name}: the tar has neither index.json (OCI archive) nor manifest.json (docker archive) nor an "
                "/entrypoint (root filesystem tar)."
            )
    else:
        if not zipfile.is_zipfile(raw):
            raise UploadError(f"{name}: not a model archive (expected a .zip holding manifest.json and the TorchScript model).")
        try:
            with open_zip(raw, name) as archive:
                infos = archive.infolist()
        except zipfile.BadZipFile as exc:
            raise UploadError(f"{name}: corrupt zip archive ({exc}).") from None
        if not any(i.filename == "manifest.json" for i in infos):
            raise UploadError(f"{name}: the model archive has no top-level manifest.json.")
        total = sum(i.file_size for i in infos)
        if total > settings.MAX_UNCOMPRESSED_BYTES:
            raise UploadError(f"{name}: decompresses to {format_size(total)}, over the limit of {format_size(settings.MAX_UNCOMPRESSED_BYTES)}.")
        bad = [i.filename for i in infos if i.filename.startswith("/") or ".." in i.filename.split("/")]
        if bad:
            raise UploadError(f"{name}: member '{bad[0]}' points outside the archive.")
    kept = MODEL_FILE_NAMES[kind]
    raw.rename(staging / kept)
    return StagedUpload(kind, chosen, staging, kept, "", 0, name)
