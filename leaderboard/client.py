"""Command-line client for the leaderboard API, standard library only.

    python -m leaderboard.client submit --url http://127.0.0.1:8000 --token T \
        --benchmark demo-ehf --file pred.npz --method "My method" [--wait]
    python -m leaderboard.client status --url ... --token T ID

It does not import Django, so it runs from any Python >= 3.10 with just this file.
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

FINAL = {"finished", "failed", "cancelled"}


class ApiError(Exception):
    def __init__(self, status: int, body: str) -> None:
        try:
            payload = json.loads(body)
            message = payload.get("detail", body) if isinstance(payload, dict) else body
        except json.JSONDecodeError:
            message = body[:500]
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def encode_multipart(fields: list[tuple[str, str]], file_field: str, path: Path) -> tuple[bytes, str]:
    boundary = f"----ehps{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{path.name}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n".encode()
    )
    parts.append(path.read_bytes())
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    def __init__(self, url: str, token: str | None, timeout: float = 300.0) -> None:
        self.base = url.rstrip("/") + "/api/v1/"
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> dict:
        request = urllib.request.Request(self.base + path, data=body, method=method)
        request.add_header("Accept", "application/json")
        if self.token:
            request.add_header("Authorization", f"Token {self.token}")
        if content_type:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise ApiError(exc.code, exc.read().decode("utf-8", "replace")) from None

    def submit(self, path: Path, benchmarks: list[str], method: str, kind: str = "predictions", **metadata: str) -> dict:
        fields = [("method_name", method), ("kind", kind), *[("benchmark", b) for b in benchmarks]]
        fields += [(k, v) for k, v in metadata.items() if v]
        body, content_type = encode_multipart(fields, "file", path)
        return self.request("POST", "submissions/", body, content_type)

    def get(self, submission_id: str) -> dict:
        return self.request("GET", f"submissions/{submission_id}/")

    def wait(self, submission_id: str, interval: float = 2.0, out=None) -> dict:
        out = out or sys.stdout
        last = None
        while True:
            status = self.request("GET", f"submissions/{submission_id}/status/")
            line = f"{status['status']:<10} {status['progress_done']}/{status['progress_total']} shards ({status['progress_percent']}%)"
            if line != last:
                print(line, file=out, flush=True)
                last = line
            if status["status"] in FINAL:
                return self.get(submission_id)
            time.sleep(interval)


def print_results(submission: dict, out=None) -> None:
    out = out or sys.stdout
    print(f"\n{submission['method_name']}: {submission['status']}", file=out)
    if submission.get("error_message"):
        print(f"error: {submission['error_message']}", file=out)
    for label, key in (("MPE", "mpe"), ("hand MPE", "hand_mpe"), ("hand PA-MPE", "pa_hand_mpe")):
        if submission.get(key) is not None:
            print(f"{label:>12}: {submission[key]:.2f} mm", file=out)
    for result in submission.get("results", []):
        print(f"\n{result['benchmark']} / {result['split']} ({result['num_samples']} samples)", file=out)
        for metric, value in result["metrics"].items():
            mark = "*" if metric == result["primary_metric"] else " "
            print(f"  {mark}{metric:<18} {'—' if value is None else f'{value:8.2f}'}", file=out)
    print(f"\n{submission['url']}", file=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m leaderboard.client", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--token", help="API token (from /accounts/token/)")
    commands = parser.add_subparsers(dest="command", required=True)
    submit = commands.add_parser("submit", help="upload predictions (or a model) and optionally wait for the results")
    submit.add_argument("--benchmark", action="append", default=[], help="benchmark slug (repeat for several; omit for a zip)")
    submit.add_argument("--file", type=Path, required=True)
    submit.add_argument("--method", required=True, help="method name shown on the leaderboard")
    submit.add_argument("--kind", default="predictions", choices=["predictions", "container", "model_archive"])
    submit.add_argument("--description", default="")
    submit.add_argument("--paper-url", default="")
    submit.add_argument("--code-url", default="")
    submit.add_argument("--wait", action="store_true", help="poll until the evaluation ends and print the results")
    status = commands.add_parser("status", help="print a submission's status and results")
    status.add_argument("id")
    for sub in (submit, status):  # accept the common options after the sub-command too
        sub.add_argument("--url", dest="url_", default=None, help=argparse.SUPPRESS)
        sub.add_argument("--token", dest="token_", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    client = Client(args.url_ or args.url, args.token_ or args.token)
    try:
        if args.command == "submit":
            if not args.file.is_file():
                parser.error(f"no such file: {args.file}")
            created = client.submit(args.file, args.benchmark, args.method, args.kind, description=args.description,
                                    paper_url=args.paper_url, code_url=args.code_url)
            print(f"submitted {created['id']} ({', '.join(created['benchmarks'])}): {created['url']}")
            if not args.wait:
                return 0
            final = client.wait(created["id"])
        else:
            final = client.get(args.id)
        print_results(final)
        return 0 if final["status"] != "failed" else 1
    except ApiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except urllib.error.URLError as exc:
        print(f"error: cannot reach {args.url_ or args.url}: {exc.reason}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
