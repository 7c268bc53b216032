"""API representations. Benchmarks expose public fields only: never ``gt_path``, ``gt_sha256`` or ``images_path``."""
from __future__ import annotations

import copy

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from rest_framework import serializers

from leaderboard.benchmarks.models import Benchmark, Phase, Split
from leaderboard.submissions.efficiency import REPORTED_HELP
from leaderboard.submissions.models import BenchmarkResult, Submission, SubmissionKind, Team
from leaderboard.submissions.visibility import (
    can_manage, can_see_log, mask_hidden_scores, readable_results, readable_split_pairs, user_teams,
)


class SplitSerializer(serializers.ModelSerializer):
    class Meta:
        model = Split
        fields = ["name", "num_samples", "is_revealed", "is_ranking"]


class PhaseSerializer(serializers.ModelSerializer):
    is_open = serializers.SerializerMethodField()

    class Meta:
        model = Phase
        fields = ["name", "title", "starts_at", "ends_at", "splits", "submissions_per_day", "max_submissions",
                  "results_before_end", "is_open"]

    def get_is_open(self, phase: Phase) -> bool:
        return phase.is_open(timezone.now())


class BenchmarkSerializer(serializers.ModelSerializer):
    splits = SplitSerializer(many=True, read_only=True)
    phases = PhaseSerializer(many=True, read_only=True)
    accepts_models = serializers.BooleanField(read_only=True)
    accepts_predictions = serializers.BooleanField(read_only=True)
    url = serializers.SerializerMethodField()

    class Meta:
        model = Benchmark
        fields = [
            "slug", "name", "description", "paper_url", "data_url", "primary_metric", "counts_toward_mpe",
            "counts_toward_hand_mpe", "num_samples", "accepts_models", "accepts_predictions", "is_active", "splits", "url",
            "protocol", "protocol_options", "gt_parts", "phases",
        ]

    def get_url(self, benchmark: Benchmark) -> str:
        request = self.context.get("request")
        path = benchmark.get_absolute_url()
        return request.build_absolute_uri(path) if request else path


def _reported_field(name: str) -> serializers.CharField:
    """An optional reported figure: a string here, checked by ``actions.reported_figures`` (the web form's message)."""
    return serializers.CharField(required=False, allow_blank=True, default="", max_length=80,
                                 help_text=f"Optional, shown as reported: {REPORTED_HELP[name][1]}")


class SubmissionCreateSerializer(serializers.Serializer):
    """Multipart form of POST /api/v1/submissions/."""

    file = serializers.FileField(help_text="A predictions .npz (one benchmark), a .zip of <benchmark>.npz, or a model file.")
    benchmark = serializers.ListField(
        child=serializers.SlugField(), required=False, default=list,
        help_text="Benchmark slug(s). One for a single .npz; optional for a zip (taken from its member names).",
    )
    kind = serializers.ChoiceField(choices=SubmissionKind.choices, default=SubmissionKind.PREDICTIONS)
    method_name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    paper_url = serializers.URLField(required=False, allow_blank=True, default="")
    code_url = serializers.URLField(required=False, allow_blank=True, default="")
    team = serializers.CharField(
        max_length=120, required=False, allow_blank=True, default="",
        help_text="Submit for one of your teams (its name); the submission still belongs to you.",
    )

    ms_per_image = _reported_field("ms_per_image")
    peak_memory_mb = _reported_field("peak_memory_mb")
    params = _reported_field("params")
    device = _reported_field("device")
    code_commit = _reported_field("code_commit")

    def validate_team(self, name: str) -> Team | None:
        """The named team if the requesting user is a member (``context['user']``); empty means no team."""
        if not name:
            return None
        team = user_teams(self.context.get("user")).filter(name=name).first()
        if team is None:
            raise serializers.ValidationError(f"You are not a member of a team named {name!r}.")
        return team

    def to_internal_value(self, data):
        # Accept ``benchmark=a&benchmark=b`` and ``benchmark=a,b`` from multipart forms.
        if hasattr(data, "getlist"):
            values = [v for item in data.getlist("benchmark") for v in str(item).split(",") if v.strip()]
            data = copy.copy(data)  # shallow: QueryDict.copy() deep-copies, which fails on a large (temp-file) upload
            data.setlist("benchmark", [v.strip() for v in values])
        return super().to_internal_value(data)


class ResultSerializer(serializers.Serializer):
    benchmark = serializers.CharField(source="benchmark.slug")
    split = serializers.CharField()
    primary_metric = serializers.CharField(source="benchmark.primary_metric")
    primary_value = serializers.FloatField(allow_null=True)
    num_samples = serializers.IntegerField()
    metrics = serializers.DictField(child=serializers.FloatField(allow_null=True))
    protocol = serializers.CharField(help_text="evaluator.protocols name the numbers were computed with ('' if not recorded)")
    protocol_version = serializers.CharField()
    protocol_options = serializers.DictField()
    evaluator_version = serializers.CharField()


def with_related(submissions: QuerySet[Submission]) -> QuerySet[Submission]:
    """What SubmissionSerializer reads, fetched in a constant number of queries whatever the page size."""
    return submissions.select_related("owner", "team").prefetch_related(
        "benchmarks", "phases", Prefetch("results", queryset=BenchmarkResult.objects.select_related("benchmark"))
    )


class SubmissionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    owner = serializers.CharField(source="owner.username", read_only=True)
    team = serializers.SlugRelatedField(read_only=True, slug_field="name")
    benchmarks = serializers.SlugRelatedField(many=True, read_only=True, slug_field="slug")
    progress = serializers.SerializerMethodField()
    results = serializers.SerializerMethodField()
    log = serializers.SerializerMethodField()
    url = serializers.SerializerMethodField()
    score_coverage = serializers.JSONField(
        read_only=True, help_text="Per score: the [{benchmark, split, protocol, protocol_version, options}] it averages")

    class Meta:
        model = Submission
        fields = [
            "id", "url", "owner", "team", "method_name", "description", "paper_url", "code_url", "kind", "benchmarks",
            "status", "error_message", "progress", "is_public", "baseline_source", "citation", "mpe", "hand_mpe",
            "pa_hand_mpe", "created_at", "started_at", "finished_at", "upload_sha256", "upload_size", "results", "log",
            "score_coverage",
        ]
        read_only_fields = fields

    def _user(self):
        request = self.context.get("request")
        return getattr(request, "user", None)

    def get_progress(self, submission: Submission) -> dict:
        return {"done": submission.progress_done, "total": submission.progress_total, "percent": submission.progress_percent}

    def _readable_splits(self) -> frozenset[tuple[int, str]] | None:
        """Read once per response (the context is shared by every row of a list), not once per row."""
        if "readable_splits" not in self.context:
            self.context["readable_splits"] = readable_split_pairs(self._user())
        return self.context["readable_splits"]

    def get_results(self, submission: Submission) -> list[dict]:
        """Results on revealed splits (all for staff); uses the rows prefetched by ``with_related`` when present."""
        results = readable_results(self._user(), submission, self._readable_splits())
        return ResultSerializer(results, many=True).data

    def get_log(self, submission: Submission) -> str | None:
        return submission.log if can_see_log(self._user(), submission) else None

    def get_url(self, submission: Submission) -> str:
        request = self.context.get("request")
        path = submission.get_absolute_url()
        return request.build_absolute_uri(path) if request else path

    def to_representation(self, submission: Submission) -> dict:
        mask_hidden_scores(self._user(), submission)  # a phase that shows results only after it ends
        data = super().to_representation(submission)
        if not can_manage(self._user(), submission):  # the file's fingerprint is the owner's business
            data.pop("upload_sha256")
            data.pop("upload_size")
        return data


class StatusSerializer(serializers.Serializer):
    """The small payload the progress bar polls."""

    status = serializers.CharField()
    status_display = serializers.CharField(source="get_status_display")
    is_final = serializers.BooleanField()
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    progress_percent = serializers.IntegerField()
    error_message = serializers.CharField()
