"""``moto_server`` that also authorises pre-signed (query-string SigV4) requests; run as a script by tests/s3_server.py.

moto 5 checks IAM policies only for requests signed in the ``Authorization`` header: a pre-signed URL reaches its
policy check without that header and fails with a 500. Here such a request is checked the way a store does: the
signature is recomputed with botocore's query signer from the key's secret (moto's IAM backend), the URL must not
have expired, and the key's own policy must allow the action on the object, so "the web's key can sign a PUT into
the private bucket only" is the server's verdict, not an assumption. Header-signed requests are moto's as before.
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlencode, urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from moto.core import authorization
from moto.iam.access_control import S3IAMRequest
from moto.server import main

SIGV4_DATE = "%Y%m%dT%H%M%SZ"


class PresignedS3Request(S3IAMRequest):
    """An S3 request whose SigV4 signature and credential travel in the query string."""

    def __init__(self, *args, path: str, headers: dict[str, str], **kwargs) -> None:
        self._query = {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}
        q = self._query
        authorization_line = (f"AWS4-HMAC-SHA256 Credential={q.get('X-Amz-Credential', '')}, "
                              f"SignedHeaders={q.get('X-Amz-SignedHeaders', '')}, Signature={q.get('X-Amz-Signature', '')}")
        super().__init__(*args, path=path, headers={**headers, "Authorization": authorization_line}, **kwargs)

    def check_signature(self) -> None:
        signed_at = datetime.strptime(self._query.get("X-Amz-Date", ""), SIGV4_DATE).replace(tzinfo=timezone.utc)
        if datetime.now(timezone.utc) > signed_at + timedelta(seconds=int(self._query.get("X-Amz-Expires", "0"))):
            self._raise_access_denied()  # an expired URL
        super().check_signature()

    def _create_auth(self, credentials):
        return S3SigV4QueryAuth(credentials, self._service, self._region, expires=int(self._query["X-Amz-Expires"]))

    def _create_aws_request(self) -> AWSRequest:
        parts = urlsplit(self._path)
        query = urlencode({k: v for k, v in self._query.items() if k != "X-Amz-Signature"})
        signed = self._query.get("X-Amz-SignedHeaders", "").split(";")
        headers = self._create_headers_for_aws_request(signed, {k: v for k, v in self._headers.items()
                                                                if k != "Authorization"})
        request = AWSRequest(method=self._method, url=f"{parts.path}?{query}", headers=headers)
        request.context["timestamp"] = self._query["X-Amz-Date"]
        return request


_header_signed = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action


def _authenticate(self, iam_request_cls, resource: str = "*") -> None:
    if iam_request_cls is S3IAMRequest and "X-Amz-Signature=" in self.uri and "Authorization" not in self.headers:
        iam_request_cls = PresignedS3Request
    _header_signed(self, iam_request_cls, resource)


authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = _authenticate

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
