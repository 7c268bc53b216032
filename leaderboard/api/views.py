"""REST API (/api/v1/): benchmarks, submissions, leaderboards. See docs/api.md for examples."""
from __future__ import annotations

import json

from django.conf import settings
from django.http import Http404, HttpResponse
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from leaderboard.api.exports import board_csv, board_header, row_json
from leaderboard.api.serializers import (
    BenchmarkSerializer,
    StatusSerializer,
    SubmissionCreateSerializer,
    SubmissionSerializer,
    with_related,
)
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.actions import cancel_submission, create_submission, queue_message, set_published
from leaderboard.submissions.board_cache import Version, cached, current_version
from leaderboard.submissions.cached_boards import board_slice
from leaderboard.submissions.leaderboard import Board, benchmark_board, display_split, overall_board, phase_splits
from leaderboard.submissions.models import InvalidTransition, Submission
from leaderboard.submissions.per_sample import DOWNLOAD_FORMATS as PER_SAMPLE_FORMATS
from leaderboard.submissions.per_sample import PerSampleUnavailable
from leaderboard.submissions.per_sample import download_response as per_sample_response
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.efficiency import REPORTED_FIELDS
from leaderboard.submissions.uploads import UploadError, check_request_size
from leaderboard.submissions.visibility import owned_submissions, visible_submissions
from leaderboard.web.boards import (
    BadParameter, active_benchmarks, board_query, cached_benchmark, cached_phases, is_canonical, not_modified,
    positive_int, requested_phase, stamp, validators, wants_all,
)
from leaderboard.web.response_cache import share


def error_response(exc: UploadError | QuotaExceeded) -> Response:
    if isinstance(exc, QuotaExceeded):
        response = Response(exc.as_dict(), status=status.HTTP_429_TOO_MANY_REQUESTS)
        if exc.resets_at:
            response["Retry-After"] = str(max(1, int((exc.resets_at - timezone.now()).total_seconds())))
        return response
    return Response({"error": exc.code, "field": exc.field, "detail": str(exc)}, status=exc.status_code)


class BenchmarkViewSet(viewsets.ReadOnlyModelViewSet):
    """Benchmarks, their splits and phases (public fields only)."""

    queryset = Benchmark.objects.prefetch_related("splits", "phases")
    serializer_class = BenchmarkSerializer
    lookup_field = "slug"
    permission_classes = [permissions.AllowAny]
    pagination_class = None

    @extend_schema(responses={(200, "application/json"): dict},
                   description="The public inputs manifest: per sample id the image path, the person box the official "
                               "protocol crops with, the image size and (UBody, 3DPW) the camera; never ground truth.")
    @action(detail=True, methods=["get"], url_path="inputs", url_name="inputs")
    def inputs(self, request: Request, slug=None) -> HttpResponse:
        from leaderboard.web.submit_help import inputs_response

        return inputs_response(self.get_object())


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
            return with_related(Submission.objects.filter(owner=user))
        if self.action in ("cancel", "publish", "unpublish", "per_sample"):
            return with_related(owned_submissions(user))
        return with_related(visible_submissions(user))

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
                {k: data.get(k, "") for k in ("method_name", "description", "paper_url", "code_url", *REPORTED_FIELDS)},
                team=data["team"],
            )
        except (UploadError, QuotaExceeded) as exc:
            return error_response(exc)
        return Response({**self.get_serializer(submission).data, "detail": queue_message(submission)},
                        status=status.HTTP_201_CREATED)

    @extend_schema(responses=StatusSerializer)
    @action(detail=True, methods=["get"], url_path="status", url_name="status")
    def status_(self, request: Request, uuid=None) -> Response:
        """Status and shard progress (small; poll it)."""
        return Response(StatusSerializer(self.get_object()).data)

    @extend_schema(
        parameters=[OpenApiParameter("benchmark", str, required=True, description="benchmark slug"),
                    OpenApiParameter("file_format", str, enum=list(PER_SAMPLE_FORMATS),
                                     description="csv (default) or npz (not 'format': DRF keeps that for its renderers)")],
        responses={(200, "text/csv"): str, (200, "application/octet-stream"): bytes},
    )
    @action(detail=True, methods=["get"], url_path="per-sample", url_name="per-sample")
    def per_sample(self, request: Request, uuid=None):
        """Your submission's per-sample errors on one benchmark, revealed splits only (hidden splits never)."""
        submission = self.get_object()
        slug = request.query_params.get("benchmark", "")
        benchmark = submission.benchmarks.filter(slug=slug).first()
        if benchmark is None:
            return Response({"error": "invalid_request", "detail": f"The submission was not scored on benchmark {slug!r}."},
                            status=status.HTTP_400_BAD_REQUEST)
        try:
            return per_sample_response(submission, benchmark, request.query_params.get("file_format", "csv"))
        except PerSampleUnavailable as exc:
            return Response({"error": "not_available", "detail": str(exc)}, status=status.HTTP_404_NOT_FOUND)

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


CSV_PARAM = OpenApiParameter("format", str, enum=["json", "csv"], description="csv streams every row as a CSV file (or send Accept: text/csv)")
BOARD_PARAMS = [
    CSV_PARAM,
    OpenApiParameter("all", bool, description="1: every published submission; default: each user's or team's best"),
    OpenApiParameter("limit", int, description="rows per page (default 50, at most LEADERBOARD_API_MAX_LIMIT)"),
    OpenApiParameter("offset", int, description="rows to skip (default 0)"),
    OpenApiParameter("dir", str, enum=["asc", "desc"]),
]


class CSVRenderer(BaseRenderer):
    """Lets content negotiation accept ``?format=csv`` / ``Accept: text/csv``; the views build the CSV themselves."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


def wants_csv(request: Request) -> bool:
    return getattr(request.accepted_renderer, "format", None) == "csv"


class BoardView(APIView):
    """A leaderboard, paginated by limit/offset; the JSON of each page is cached per leaderboard version.

    Answers carry an ETag and Last-Modified: a client sending If-None-Match gets a 304 while nothing changed.
    """

    permission_classes = [permissions.AllowAny]
    renderer_classes = [*api_settings.DEFAULT_RENDERER_CLASSES, CSVRenderer]
    # A cached read costs what a page view costs, and the pages are not throttled either; a throttle would add two
    # cache round trips to every request.
    throttle_classes: list = []

    def board(self, request: Request, version: Version, **kwargs) -> Board:
        raise NotImplementedError

    def respond(self, request: Request, **kwargs) -> HttpResponse | Response:
        version = current_version()
        etag, last_modified = validators(request, version, getattr(request.accepted_renderer, "format", ""))
        unchanged = not_modified(request, etag, last_modified)
        if unchanged is not None:
            return unchanged
        try:
            board = self.board(request, version, **kwargs)
            if wants_csv(request):
                return stamp(request, board_csv(board), etag, last_modified)
            limit = min(positive_int(request.query_params, "limit", settings.LEADERBOARD_PAGE_SIZE), settings.LEADERBOARD_API_MAX_LIMIT)
            offset = positive_int(request.query_params, "offset", 0, minimum=0)
        except BadParameter as exc:
            return Response({"error": "invalid_parameter", "detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)
        base = request.build_absolute_uri(request.path)
        # Kept only for the pages the board links to, asked for by the parameters it reads (issue 24, Medium 3).
        canonical = (limit in (settings.LEADERBOARD_PAGE_SIZE, settings.LEADERBOARD_API_MAX_LIMIT) and offset % limit == 0
                     and is_canonical(request.query_params, board, limit=limit, offset=offset or None))

        def payload() -> bytes:
            page = board_slice(version, board, offset, limit, keep=canonical)
            link = lambda start: f"{base}{board_query(board, limit=limit, offset=start or None)}".rstrip("?")  # noqa: E731
            data = {
                **board_header(board), "count": page.count, "limit": limit, "offset": offset,
                "next": link(offset + limit) if offset + limit < page.count else None,
                "previous": link(max(0, offset - limit)) if offset > 0 else None,
                "rows": [row_json(board, row) for row in page.rows],
            }
            return json.dumps(data).encode()

        body = cached(version, f"api:{base}:{board.key}:{offset}:{limit}", payload) if canonical else payload()
        if isinstance(request.accepted_renderer, JSONRenderer):  # the cached bytes as they are
            response = stamp(request, HttpResponse(body, content_type="application/json"), etag, last_modified)
            return share(response, version) if canonical and not request.user.is_authenticated else response
        return stamp(request, Response(json.loads(body)), etag, last_modified)  # browsable API


class OverallLeaderboardView(BoardView):
    """Overall leaderboard: by MPE (lower is better, missing last, ties by earlier submission)."""

    def board(self, request: Request, version: Version, **kwargs) -> Board:
        params = request.query_params
        return overall_board(active_benchmarks(version), not wants_all(params), params.get("sort"), params.get("dir"))

    @extend_schema(
        operation_id="leaderboard_overall",
        parameters=[*BOARD_PARAMS, OpenApiParameter("sort", str, description="mpe (default), hand_mpe, pa_hand_mpe or a benchmark slug")],
        responses={200: dict},
    )
    def get(self, request: Request, format=None):
        return self.respond(request)


class BenchmarkLeaderboardView(BoardView):
    """One benchmark's leaderboard on a revealed split, sortable by any metric."""

    def board(self, request: Request, version: Version, slug: str = "") -> Board:
        found = cached_benchmark(version, slug)
        if found is None:
            raise Http404("No such benchmark.")
        benchmark, splits = found
        params = request.query_params
        phase = requested_phase(params, cached_phases(version, benchmark))
        split = display_split(benchmark, request.user, params.get("split"), phase_splits(splits, phase))
        return benchmark_board(benchmark, split, not wants_all(params), params.get("sort"), params.get("dir"), phase)

    @extend_schema(
        operation_id="leaderboard_benchmark",
        parameters=[
            *BOARD_PARAMS,
            OpenApiParameter("split", str, description="a revealed split (default: the ranking split)"),
            OpenApiParameter("phase", str, description="only submissions made in this phase (default: every phase)"),
            OpenApiParameter("sort", str, description="metric key (default: the primary metric)"),
        ],
        responses={200: dict},
    )
    def get(self, request: Request, slug: str, format=None):
        return self.respond(request, slug=slug)
