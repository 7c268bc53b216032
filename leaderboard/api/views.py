"""REST API (/api/v1/): benchmarks, submissions, leaderboards. See docs/api.md for examples."""
from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from leaderboard.api.exports import benchmark_csv, benchmark_payload, overall_csv, overall_payload
from leaderboard.api.serializers import (
    BenchmarkSerializer,
    StatusSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
)
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.actions import cancel_submission, create_submission, set_published
from leaderboard.submissions.leaderboard import display_split
from leaderboard.submissions.models import InvalidTransition, Submission
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.uploads import UploadError, check_request_size
from leaderboard.submissions.visibility import owned_submissions, visible_submissions


def error_response(exc: UploadError | QuotaExceeded) -> Response:
    if isinstance(exc, QuotaExceeded):
        response = Response(exc.as_dict(), status=status.HTTP_429_TOO_MANY_REQUESTS)
        if exc.resets_at:
            response["Retry-After"] = str(max(1, int((exc.resets_at - timezone.now()).total_seconds())))
        return response
    return Response({"error": "invalid_upload", "field": exc.field, "detail": str(exc)}, status=exc.status_code)


class BenchmarkViewSet(viewsets.ReadOnlyModelViewSet):
    """Benchmarks and their splits (public fields only)."""

    queryset = Benchmark.objects.prefetch_related("splits")
    serializer_class = BenchmarkSerializer
    lookup_field = "slug"
    permission_classes = [permissions.AllowAny]
    pagination_class = None


class SubmissionViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Your submissions; anyone's published submission or baseline by id. Private ones of others answer 404."""

    serializer_class = SubmissionSerializer
    lookup_field = "uuid"
    parser_classes = [MultiPartParser, FormParser]
    upload_actions = ("create",)  # leaderboard.upload_guard allows upload-sized bodies here only

    def get_permissions(self):
        if self.action in ("retrieve", "status_", "results"):
            return [permissions.AllowAny()]
        return [permissions.IsAuthenticated()]

    def get_queryset(self):
        user = self.request.user
        if self.action == "list":
            return Submission.objects.filter(owner=user).prefetch_related("benchmarks")
        if self.action in ("cancel", "publish", "unpublish"):
            return owned_submissions(user)
        return visible_submissions(user).prefetch_related("benchmarks")

    @extend_schema(request={"multipart/form-data": SubmissionCreateSerializer}, responses={201: SubmissionSerializer})
    def create(self, request: Request) -> Response:
        """Upload predictions (or a model) and start the evaluation. 413/400 on a bad file, 429 over a quota."""
        try:
            check_request_size(request.META)  # before the body is parsed
        except UploadError as exc:
            return error_response(exc)
        form = SubmissionCreateSerializer(data=request.data, context={"user": request.user})
        if not form.is_valid():
            problems = "; ".join(f"{name}: {' '.join(map(str, errors))}" for name, errors in form.errors.items())
            return Response({"error": "invalid_request", "detail": problems, "fields": form.errors}, status=status.HTTP_400_BAD_REQUEST)
        data = form.validated_data
        try:
            submission = create_submission(
                request.user, data["file"], data["kind"], data["benchmark"],
                {k: data.get(k, "") for k in ("method_name", "description", "paper_url", "code_url")},
                team=data["team"],
            )
        except (UploadError, QuotaExceeded) as exc:
            return error_response(exc)
        return Response(self.get_serializer(submission).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=StatusSerializer)
    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def status_(self, request: Request, uuid=None) -> Response:
        """Status and shard progress (small; poll it)."""
        return Response(StatusSerializer(self.get_object()).data)

    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, uuid=None) -> Response:
        submission = self.get_object()
        try:
            cancel_submission(submission)
        except InvalidTransition:
            return Response(
                {"error": "invalid_state", "detail": f"The submission is already {submission.get_status_display().lower()}; it cannot be cancelled."},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(self.get_serializer(submission).data)

    def _publish(self, published: bool) -> Response:
        submission = self.get_object()
        try:
            set_published(submission, published)
        except InvalidTransition as exc:
            return Response({"error": "invalid_state", "detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        return Response(self.get_serializer(submission).data)

    @action(detail=True, methods=["post"])
    def publish(self, request: Request, uuid=None) -> Response:
        return self._publish(True)

    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, uuid=None) -> Response:
        return self._publish(False)


CSV_PARAM = OpenApiParameter("format", str, enum=["json", "csv"], description="csv downloads a CSV file (or send Accept: text/csv)")


class CSVRenderer(BaseRenderer):
    """Lets content negotiation accept ``?format=csv`` / ``Accept: text/csv``; the views build the CSV themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def wants_csv(request: Request) -> bool:
    return getattr(request.accepted_renderer, "format", None) == "csv"


class OverallLeaderboardView(APIView):
    """Overall leaderboard: by MPE (lower is better, missing last, ties by earlier submission)."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(operation_id="leaderboard_overall", parameters=[CSV_PARAM], responses={200: dict})
    def get(self, request: Request, format=None):
        if wants_csv(request):
            return overall_csv()
        return Response(overall_payload())


class BenchmarkLeaderboardView(APIView):
    """One benchmark's leaderboard on a revealed split, sortable by any metric."""

    permission_classes = [permissions.AllowAny]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]

    @extend_schema(
        operation_id="leaderboard_benchmark",
        parameters=[
            CSV_PARAM,
            OpenApiParameter("split", str, description="a revealed split (default: the ranking split)"),
            OpenApiParameter("sort", str, description="metric key (default: the primary metric)"),
            OpenApiParameter("dir", str, enum=["asc", "desc"]),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, slug: str, format=None):
        benchmark = get_object_or_404(Benchmark, slug=slug)
        split = display_split(benchmark, request.user, request.query_params.get("split"))
        sort, direction = request.query_params.get("sort"), request.query_params.get("dir", "asc")
        if wants_csv(request):
            return benchmark_csv(benchmark, split, sort, direction)
        return Response(benchmark_payload(benchmark, split, sort, direction))
