"""POST /api/v1/submissions/direct-upload/ and .../direct-upload/complete/: large uploads straight to the store.

See ``leaderboard.submissions.direct_uploads`` for the protocol. Small JSON (or form) bodies only: the file itself
never passes through the web process. On the filesystem backend the first call answers 409
``direct_upload_unavailable`` and the client sends the file to POST /api/v1/submissions/ as before.
"""
from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leaderboard.api.serializers import SubmissionCreateSerializer, SubmissionSerializer, with_related
from leaderboard.api.views import error_response
from leaderboard.storage import DirectUploadUnavailable
from leaderboard.submissions import direct_uploads
from leaderboard.submissions.actions import queue_message
from leaderboard.submissions.models import Submission, SubmissionKind
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.uploads import UploadError

UNAVAILABLE = ("This server keeps uploads on its own disk (EHPS_STORAGE=filesystem), so it offers no direct upload: "
               "send the file to POST /api/v1/submissions/ (multipart) instead.")


class DirectUploadSerializer(serializers.Serializer):
    filename = serializers.CharField(max_length=255)
    size = serializers.IntegerField(min_value=1)
    sha256 = serializers.CharField(max_length=64, help_text="SHA-256 of the file, 64 lowercase hex digits")
    kind = serializers.ChoiceField(choices=SubmissionKind.choices, default=SubmissionKind.PREDICTIONS)
    benchmark = serializers.ListField(child=serializers.SlugField(), min_length=1)


class DirectCompleteSerializer(SubmissionCreateSerializer):
    """The metadata fields of a form upload, with the ticket instead of the file."""

    file = None
    upload_id = serializers.CharField(max_length=4000)
    benchmark = None
    kind = None


def _problems(form: serializers.Serializer) -> Response:
    detail = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items())
    return Response({"error": "invalid_request", "detail": detail, "fields": form.errors},
                    status=status.HTTP_400_BAD_REQUEST)


class DirectUploadView(APIView):
    """Ask for a pre-signed PUT URL (S3 stores only) for a file of ``size`` bytes with this ``sha256``."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=DirectUploadSerializer, responses={200: dict})
    def post(self, request: Request) -> Response:
        form = DirectUploadSerializer(data=request.data)
        if not form.is_valid():
            return _problems(form)
        data = form.validated_data
        try:
            answer = direct_uploads.begin(request.user, data["filename"], data["size"], data["sha256"].lower(),
                                          data["kind"], data["benchmark"])
        except DirectUploadUnavailable:
            return Response({"error": "direct_upload_unavailable", "detail": UNAVAILABLE}, status=status.HTTP_409_CONFLICT)
        except (UploadError, QuotaExceeded) as exc:
            return error_response(exc)
        return Response(answer)


class DirectCompleteView(APIView):
    """The file is in the store: create the submission (a worker checks the file before it is scored)."""

    permission_classes = [permissions.IsAuthenticated]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(request=DirectCompleteSerializer, responses={201: SubmissionSerializer})
    def post(self, request: Request) -> Response:
        form = DirectCompleteSerializer(data=request.data, context={"user": request.user})
        if not form.is_valid():
            return _problems(form)
        data = form.validated_data
        metadata = {k: v for k, v in data.items() if k not in ("upload_id", "team")}
        try:
            submission = direct_uploads.complete(request.user, data["upload_id"], metadata, team=data["team"])
        except (UploadError, QuotaExceeded) as exc:
            return error_response(exc)
        submission = with_related(Submission.objects.filter(pk=submission.pk)).get()
        body = SubmissionSerializer(submission, context={"request": request}).data
        return Response({**body, "detail": queue_message(submission)}, status=status.HTTP_201_CREATED)
