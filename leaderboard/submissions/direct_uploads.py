"""Direct uploads (EHPS_STORAGE=s3): the client PUTs a large file straight into the store, so the web tier never holds
a 512 MiB body; a worker checks the object before anything trusts it.

1. ``begin``: the web checks what costs no byte of the file (kind, benchmarks, declared size, quotas), picks the key
   ``incoming/<random>/<name>`` itself and answers a pre-signed PUT URL for exactly the declared length
   (``storage.presigned_put``: private bucket, ``incoming/`` only; never ground truth or held-out images) and a
   signed ticket naming key, size, sha256, kind and benchmarks.
2. The client PUTs the file to the URL (no API token goes to the store).
3. ``complete``: the ticket (signed by us, so none of it can be altered) and the metadata create the submission
   through ``actions.create_submission`` (quotas, row, queue), once the store has an object of the declared size.
4. ``verify`` (worker, first thing of ``validate_submission``): size from a HEAD before any download, then the same
   checks as a form upload (``uploads.stage_upload``: npz/zip/tar structure, sample ids) while the sha256 is
   computed; a mismatch fails the submission. The checked files go to ``uploads/<uuid>/`` and the incoming object is
   removed. A submission whose upload is still under ``incoming/`` has not been checked yet (``is_pending``).
"""
from __future__ import annotations

import re
import uuid
from pathlib import Path

from django.conf import settings
from django.core import signing

from leaderboard.storage import INCOMING_PREFIX, PRIVATE, delete_file, open_file, presigned_put, stored_size
from leaderboard.submissions.models import Submission, SubmissionKind, Team
from leaderboard.submissions.quotas import check_quotas
from leaderboard.submissions.uploads import IncomingObject, UploadError, stage_upload

TICKET_SALT = "ehps.direct-upload"
SHA256 = re.compile(r"[0-9a-f]{64}")


def safe_name(name: str) -> str:
    """The last part of the uploader's file name in a harmless alphabet (it becomes part of an object key)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", Path(name or "upload").name).lstrip(".")[-100:]
    return cleaned or "upload"


def begin(user, name: str, size: int, sha256: str, kind: str, benchmark_slugs: list[str]) -> dict:
    """A pre-signed PUT URL and the ticket for ``complete``. Raises UploadError, QuotaExceeded or
    DirectUploadUnavailable (the filesystem backend), before anything is signed."""
    if kind not in SubmissionKind.values:
        raise UploadError(f"Unknown submission kind '{kind}'; choose one of {', '.join(SubmissionKind.values)}.",
                          field="kind")
    if not SHA256.fullmatch(sha256 or ""):
        raise UploadError("sha256: give the file's SHA-256 as 64 lowercase hex digits.", field="sha256")
    incoming = IncomingObject(f"{INCOMING_PREFIX}{uuid.uuid4().hex}/{safe_name(name)}", Path(name).name, size, sha256)
    staged = stage_upload(incoming, kind, benchmark_slugs)  # declared size, benchmarks, kind (no file yet)
    check_quotas(user, staged.benchmarks)  # early, unlocked: ``complete`` checks again under the user's lock
    expires = settings.DIRECT_UPLOAD_EXPIRES_S
    url = presigned_put(incoming.key, size, expires)
    ticket = signing.dumps({"user": user.pk, "key": incoming.key, "name": incoming.name, "size": size,
                            "sha256": sha256, "kind": kind, "benchmarks": [b.slug for b in staged.benchmarks]},
                           salt=TICKET_SALT)
    return {"upload_id": ticket, "url": url, "method": "PUT", "headers": {"Content-Length": str(size)},
            "expires_in": expires}


def complete(user, upload_id: str, metadata: dict, team: Team | None = None) -> Submission:
    """Create the submission of an uploaded ticket (UploadError if the ticket or the object is not right)."""
    from leaderboard.submissions.actions import create_submission

    try:  # a day past the URL's end: a slow PUT that started in time still completes
        ticket = signing.loads(upload_id, salt=TICKET_SALT, max_age=settings.DIRECT_UPLOAD_EXPIRES_S + 86400)
    except signing.BadSignature:
        raise UploadError("upload_id: not a ticket this server issued, or it has expired; start again.",
                          field="upload_id") from None
    if ticket["user"] != user.pk:
        raise UploadError("upload_id: this ticket was issued to another user.", field="upload_id")
    if Submission.objects.filter(upload=ticket["key"]).exists():
        raise UploadError("upload_id: this upload was already submitted.", field="upload_id")
    found = stored_size(PRIVATE, ticket["key"])
    if found != ticket["size"]:
        raise UploadError(f"{ticket['name']}: the store holds {'no file' if found is None else f'{found} bytes'} for "
                          f"this upload, not the {ticket['size']} bytes announced; PUT the file to the URL first.")
    incoming = IncomingObject(ticket["key"], ticket["name"], ticket["size"], ticket["sha256"])
    return create_submission(user, incoming, ticket["kind"], ticket["benchmarks"], metadata, team=team)


def is_pending(submission: Submission) -> bool:
    """A direct upload no worker has checked yet."""
    return submission.upload.name.startswith(INCOMING_PREFIX)


class _StoredFile:
    """The incoming object as ``stage_upload`` reads an uploaded file (name, size, read)."""

    def __init__(self, stream, name: str, size: int) -> None:
        self.stream, self.name, self.size = stream, name, size

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)


def verify(submission: Submission) -> None:
    """Check a direct upload as a form upload is checked, then keep it under ``uploads/<uuid>/`` (worker side).

    Raises UploadError naming the problem (the caller fails the submission); the incoming object is removed either way.
    """
    key = submission.upload.name
    slugs = list(submission.benchmarks.values_list("slug", flat=True))
    name = key.rsplit("/", 1)[-1]
    try:
        size = stored_size(PRIVATE, key)  # a HEAD: an oversized or short object is refused before any download
        if size != submission.upload_size:
            found = "missing" if size is None else f"{size} bytes"
            raise UploadError(f"{name}: the uploaded object is {found}, not the {submission.upload_size} bytes announced.")
        with open_file(PRIVATE, key) as stream:
            staged = stage_upload(_StoredFile(stream, name, size), submission.kind, slugs)
        try:
            if staged.sha256 != submission.upload_sha256:
                raise UploadError(f"{name}: the uploaded file's SHA-256 is {staged.sha256}, not the "
                                  f"{submission.upload_sha256} announced (a different or damaged file).")
            staged.commit(submission)
            submission.save(update_fields=["upload", "upload_sha256", "upload_size"])
        finally:
            staged.discard()
    except UploadError:  # refused for good; a transient error leaves the object for the retry
        delete_file(PRIVATE, key)
        raise
    delete_file(PRIVATE, key)
