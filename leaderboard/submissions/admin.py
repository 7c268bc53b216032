"""Submissions in the admin: read their state, cancel or re-run them; status changes go through the state machine.

The upload is shown by name with a link to the permission-checked download view: private storage has no URL
(rendering the FileField through its storage URL was a 500 on every submission with an upload).
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from leaderboard.submissions.models import (
    FINAL_STATUSES, BaselineSource, BenchmarkResult, InvalidTransition, ShardResult, Status, Submission, Team,
)


class BenchmarkResultInline(admin.TabularInline):
    """Editable so staff can enter a 'reported' baseline's numbers from its paper."""

    model = BenchmarkResult
    extra = 0
    fields = ("benchmark", "split", "primary_value", "metrics", "num_samples")


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("method_name", "owner", "status", "is_public", "baseline_source", "mpe", "hand_mpe", "created_at")
    list_filter = ("status", "is_public", "baseline_source", "kind", "benchmarks")
    search_fields = ("method_name", "owner__username", "uuid")
    date_hierarchy = "created_at"
    filter_horizontal = ("benchmarks",)
    inlines = [BenchmarkResultInline]
    # The upload and the state are the workers' (status moves only through Submission.transition).
    exclude = ("upload",)
    readonly_fields = (
        "uuid", "stored_upload", "upload_sha256", "upload_size", "status", "eval_plan", "worker", "log",
        "progress_done", "progress_total", "attempts", "model_runs", "sandbox_active", "created_at", "started_at",
        "finished_at", "heartbeat_at",
    )
    actions = ["cancel_selected", "rerun_selected"]

    @admin.display(description="Upload")
    def stored_upload(self, obj: Submission) -> str:
        if not obj.pk or not obj.upload.name:
            return "–"
        return format_html('{} (<a href="{}">download</a>)', obj.upload.name.rsplit("/", 1)[-1],
                           reverse("submission-upload", args=[obj.uuid]))

    def get_changeform_initial_data(self, request) -> dict:
        return {"baseline_source": BaselineSource.REPORTED, **super().get_changeform_initial_data(request)}

    def save_model(self, request, obj: Submission, form, change: bool) -> None:
        # Uploads arrive through the site or the API, never here: a row added in the admin is a baseline whose
        # figures are typed in from its paper (the BenchmarkResult inline), so it is final from the start.
        if not change:
            obj.status = Status.FINISHED
            obj.baseline_source = obj.baseline_source or BaselineSource.REPORTED
        super().save_model(request, obj, form, change)

    @admin.action(description="Cancel the selected submissions (those not final yet)")
    def cancel_selected(self, request, queryset) -> None:
        from leaderboard.submissions.actions import cancel_submission

        done = 0
        for submission in queryset.exclude(status__in=FINAL_STATUSES):
            try:
                cancel_submission(submission)
                done += 1
            except InvalidTransition:
                pass
        self.message_user(request, f"Cancelled {done} submission(s).", messages.SUCCESS)

    @admin.action(description="Re-run: a fresh evaluation of the selected submissions' stored uploads")
    def rerun_selected(self, request, queryset) -> None:
        from leaderboard.submissions.actions import rerun_submission

        created, skipped = [], []
        for submission in queryset.exclude(upload=""):
            try:
                created.append(rerun_submission(submission))
            except ValueError as exc:
                skipped.append(str(exc))
        skipped += [f"{s.method_name}: no stored upload (a reported baseline?)" for s in queryset.filter(upload="")]
        if created:
            self.message_user(request, f"Started {len(created)} fresh evaluation(s): "
                              + ", ".join(str(s.uuid) for s in created), messages.SUCCESS)
        for reason in skipped:
            self.message_user(request, f"Not re-run: {reason}", messages.WARNING)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(ShardResult)
class ShardResultAdmin(admin.ModelAdmin):
    """Written by the workers only: viewable, never added or edited by hand (the reduction trusts these sums)."""

    list_display = ("submission", "benchmark", "shard_index", "sample_start", "sample_stop", "worker", "completed_at")
    list_filter = ("benchmark",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
