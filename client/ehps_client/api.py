"""The HTTP side: httpx with streamed multipart uploads, and API errors turned into sentences."""
from __future__ import annotations

import io
import ipaddress
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from ehps_client.hashing import file_sha256

FINAL = frozenset({"finished", "failed", "cancelled"})
DIRECT_MIN_BYTES = 8 * 1024 * 1024  # from this size a file goes straight to the server's object store, if it has one


def _error_code(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("error", "")) if isinstance(body, dict) else ""


class ApiError(Exception):
    """An API answer that is not a success, with the server's own explanation when it gave one."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("error") or body)
    return str(body)


def explain(response: httpx.Response, what: str) -> ApiError:
    """Readable errors: the server's detail, plus what to do for the usual cases."""
    status = response.status_code
    if response.is_redirect:  # the API never redirects: a login page, http -> https, or a wrong --url
        return ApiError(status, f"{what}: the server answered with a redirect to {response.headers.get('location')} "
                                f"(HTTP {status}), not the API; check the --url")
    detail = _detail(response)
    if status == 401:
        return ApiError(status, f"not authenticated ({detail}): run `ehps login`, or set EHPS_TOKEN")
    if status == 403:
        return ApiError(status, f"{what}: not allowed ({detail})")
    if status == 404:
        return ApiError(status, f"{what}: not found or not yours (private submissions are visible to their owner only)")
    if status == 413:
        return ApiError(status, f"the file is too large: {detail}")
    if status == 429:
        return ApiError(status, f"quota reached: {detail}")
    return ApiError(status, f"{what}: {detail} (HTTP {status})")


class NotOffered(ApiError):
    """The server has nothing of this kind to give (not an error of the request)."""

    def __init__(self, message: str) -> None:
        super().__init__(404, message)


class ProgressReader(io.RawIOBase):
    """A read-only file that reports how many bytes httpx has taken from it (for the upload progress bar)."""

    def __init__(self, file: BinaryIO, on_read: Callable[[int], None]) -> None:
        self._file, self._on_read = file, on_read
        self.name = getattr(file, "name", "upload")

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def fileno(self) -> int:  # httpx sizes the body from it (Content-Length, no chunked encoding)
        return self._file.fileno()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def read(self, size: int = -1) -> bytes:
        data = self._file.read(size)
        self._on_read(len(data))
        return data


def is_unencrypted_remote(url: str) -> bool:
    """http:// to a host other than this machine: a token or password would cross the network in clear text."""
    parsed = httpx.URL(url)
    if parsed.scheme != "http" or parsed.host == "localhost" or parsed.host.endswith(".localhost"):
        return False
    try:
        return not ipaddress.ip_address(parsed.host).is_loopback
    except ValueError:  # a host name
        return True


def guard_credentials(url: str, insecure: bool) -> None:
    """Refuse to send credentials to a remote plain-http server, unless the user said --insecure (then warn)."""
    if not is_unencrypted_remote(url):
        return
    message = f"{url} is not encrypted (http:// to another machine): your token or password would travel in clear text"
    if not insecure:
        raise ApiError(0, f"{message}; use https://, or pass --insecure to send it anyway")
    print(f"warning: {message} (--insecure)", file=sys.stderr)


class ApiClient:
    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0,
                 transport: httpx.BaseTransport | None = None, insecure: bool = False) -> None:
        self.url, self.insecure = url.rstrip("/"), insecure
        if token:
            guard_credentials(self.url, insecure)
        headers = {"Accept": "application/json", "User-Agent": "ehps-cli"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.http = httpx.Client(base_url=self.url + "/api/v1/", headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def _call(self, method: str, path: str, what: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ApiError(0, f"{what}: {self.url} did not answer in time") from None
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from None
        if not response.is_success:
            raise explain(response, what)
        return response

    def json(self, method: str, path: str, what: str, **kwargs: Any) -> Any:
        return self._call(method, path, what, **kwargs).json()

    # --- accounts
    def obtain_token(self, username: str, password: str) -> str:
        guard_credentials(self.url, self.insecure)
        response = self.http.post("auth/token/", data={"username": username, "password": password})
        if response.status_code == 400:
            raise ApiError(400, "login failed: wrong username or password")
        if not response.is_success:
            raise explain(response, "login")
        return response.json()["token"]

    # --- submissions
    def submit(self, path: Path, benchmarks: list[str], method: str, kind: str = "predictions",
               metadata: dict[str, str] | None = None, on_progress: Callable[[int], None] | None = None,
               upload_timeout: float = 3600.0, direct_min_bytes: int = DIRECT_MIN_BYTES) -> dict:
        """Upload ``path`` and start its evaluation; ``on_progress(bytes)`` as it goes.

        A file of ``direct_min_bytes`` or more (with its benchmarks named) goes straight to the server's object
        store when the server offers it (``direct_submit``); otherwise it is streamed as multipart (never read whole
        into memory).
        """
        data: dict[str, Any] = {"method_name": method, "kind": kind, "benchmark": benchmarks}
        data.update({k: v for k, v in (metadata or {}).items() if v})
        if benchmarks and path.stat().st_size >= direct_min_bytes:
            try:
                return self.direct_submit(path, data, on_progress, upload_timeout)
            except NotOffered:
                pass  # a filesystem-backed (or older) server: the usual upload below
        with open(path, "rb") as f:
            body = ProgressReader(f, on_progress or (lambda n: None))
            files = {"file": (path.name, body, "application/octet-stream")}
            return self.json("POST", "submissions/", "upload", data=data, files=files,
                             timeout=httpx.Timeout(upload_timeout, connect=30.0))

    def direct_submit(self, path: Path, data: dict[str, Any], on_progress: Callable[[int], None] | None,
                      upload_timeout: float) -> dict:
        """Ask for a pre-signed PUT URL, PUT the file to the store, then complete; NotOffered when the server has
        no object store. The API token is never sent to the store (the URL carries its own signature)."""
        size = path.stat().st_size
        ask = {"filename": path.name, "size": size, "sha256": file_sha256(path), "kind": data["kind"],
               "benchmark": data["benchmark"]}
        response = self.http.post("submissions/direct-upload/", json=ask)
        if response.status_code == 409 and _error_code(response) == "direct_upload_unavailable" \
                or response.status_code in (404, 405):
            raise NotOffered(_detail(response))
        if not response.is_success:
            raise explain(response, "upload")
        offer = response.json()
        with open(path, "rb") as f:
            body = ProgressReader(f, on_progress or (lambda n: None))
            try:  # 1 MiB blocks; the signed Content-Length header keeps it one plain (not chunked) body
                put = httpx.request(offer.get("method", "PUT"), offer["url"], content=iter(lambda: body.read(1 << 20), b""),
                                    headers=offer.get("headers", {}), timeout=httpx.Timeout(upload_timeout, connect=30.0))
            except httpx.TransportError as exc:
                raise ApiError(0, f"cannot reach the file store at {httpx.URL(offer['url']).host}: {exc}") from None
        if not put.is_success:
            raise ApiError(put.status_code, f"upload to the file store: HTTP {put.status_code} {put.text.strip()[:300]}")
        complete = {k: v for k, v in data.items() if k not in ("kind", "benchmark")}
        return self.json("POST", "submissions/direct-upload/complete/", "upload",
                         json={**complete, "upload_id": offer["upload_id"]})

    def submission(self, sid: str) -> dict:
        return self.json("GET", f"submissions/{sid}/", f"submission {sid}")

    def status(self, sid: str) -> dict:
        return self.json("GET", f"submissions/{sid}/status/", f"submission {sid}")

    def list(self, limit: int = 50) -> list[dict]:
        return self.json("GET", "submissions/", "your submissions", params={"limit": limit})["results"]

    def action(self, sid: str, name: str) -> dict:
        return self.json("POST", f"submissions/{sid}/{name}/", f"{name} {sid}")

    def wait(self, sid: str, interval: float = 2.0, timeout: float | None = None) -> Iterator[dict]:
        """Status answers until the submission is final (the last one yielded is final)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(sid)
            yield status
            if status["status"] in FINAL:
                return
            if deadline is not None and time.monotonic() > deadline:
                raise ApiError(0, f"submission {sid} is still {status['status']} after {timeout:.0f} s")
            time.sleep(interval)

    # --- leaderboards
    def leaderboard(self, benchmark: str | None = None, csv: bool = False, split: str | None = None) -> Any:
        path = f"leaderboard/{benchmark}/" if benchmark else "leaderboard/"
        params = {k: v for k, v in {"split": split, "format": "csv" if csv else None}.items() if v}
        response = self._call("GET", path, f"benchmark {benchmark}" if benchmark else "leaderboard", params=params,
                              headers={"Accept": "text/csv"} if csv else None)
        return response.text if csv else response.json()

    def per_sample(self, sid: str, benchmark: str, file_format: str = "csv") -> bytes:
        """Your submission's per-sample errors on one benchmark (revealed splits only).

        Raises NotOffered when the server has none to give (a hidden split, no values stored, an older server).
        """
        what = f"per-sample errors of {sid} on {benchmark}"
        try:
            response = self.http.get(f"submissions/{sid}/per-sample/", params={"benchmark": benchmark, "file_format": file_format})
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from None
        if response.status_code == 404:
            body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
            if body.get("error") == "not_available":
                raise NotOffered(f"{benchmark}: {body.get('detail')}")
            if str(body.get("detail", "")).startswith("No API endpoint"):
                raise NotOffered("this server offers no per-sample errors")
        if not response.is_success:
            raise explain(response, what)
        return response.content
