"""Submissions in the admin: read their state, cancel or re-run them; status changes go through the state machine.

The upload is shown by name with a link to the permission-checked download view: private storage has no URL
(rendering the FileField through its storage URL was a 500 on every submission with an upload).
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from leaderboard.submissions.models import (
    FINAL_STATUSES, BaselineSource, BenchmarkResult, InvalidTransition, ModerationAction, ShardResult, Status,
    Submission, Team,
)

# Derived from the results by leaderboard.submissions.scores: typing over them would show numbers nobody computed.
COMPUTED_FIELDS = ("mpe", "hand_mpe", "pa_hand_mpe", "score_coverage", "mpe_coverage_key")
RESULT_FIELDS = ("benchmark", "split", "primary_value", "metrics", "num_samples")


def _is_reported(obj: Submission | None) -> bool:
    """A row whose figures a host types in from a paper (a new row added here is one)."""
    return obj is None or obj.baseline_source == BaselineSource.REPORTED


class BenchmarkResultInline(admin.TabularInline):
    """Editable only for a 'reported' baseline (its numbers come from its paper); computed results are read-only."""

    model = BenchmarkResult
    extra = 0
    fields = RESULT_FIELDS

    def get_readonly_fields(self, request, obj=None):
        return () if _is_reported(obj) else RESULT_FIELDS

    def has_add_permission(self, request, obj=None) -> bool:
        return _is_reported(obj) and super().has_add_permission(request, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return _is_reported(obj) and super().has_delete_permission(request, obj)


class ModerationInline(admin.TabularInline):
    """The submission's audit trail (written by the moderation actions only)."""

    model = ModerationAction
    extra = 0
    fields = readonly_fields = ("created_at", "actor", "action", "reason", "owner_notified")
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ("method_name", "owner", "status", "is_public", "baseline_source", "mpe", "hand_mpe", "created_at")
    list_filter = ("status", "is_public", "baseline_source", "kind", "benchmarks")
    search_fields = ("method_name", "owner__username", "uuid")
    date_hierarchy = "created_at"
    filter_horizontal = ("benchmarks",)
    inlines = [BenchmarkResultInline, ModerationInline]
    # The upload and the state are the workers' (status moves only through Submission.transition).
    exclude = ("upload",)
    readonly_fields = (
        "uuid", "stored_upload", "upload_sha256", "upload_size", "status", "eval_plan", "worker", "log",
        "progress_done", "progress_total", "attempts", "model_runs", "sandbox_active", "created_at", "started_at",
        "finished_at", "heartbeat_at", *COMPUTED_FIELDS, "is_hidden",
    )
    actions = ["cancel_selected", "rerun_selected", "unpublish_selected", "hide_selected", "unhide_selected"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else [BenchmarkResultInline]  # no history before the row exists

    def get_readonly_fields(self, request, obj=None):
        # A participant's submission is published by its owner and moderated through the actions (with a reason,
        # recorded); only a reported baseline's publication is set here directly.
        return self.readonly_fields if _is_reported(obj) else (*self.readonly_fields, "is_public")

    def _moderate(self, request, queryset, action: str):
        """Ask for the reason (an intermediate page), then apply ``action`` to each selected submission."""
        from leaderboard.submissions.moderation import moderate

        reason = request.POST.get("reason", "").strip()
        if "apply" not in request.POST or not reason:
            return TemplateResponse(request, "admin/submissions/moderate.html", {
                **self.admin_site.each_context(request), "title": f"{ModerationAction.Kind(action).label}: reason",
                "action": request.POST["action"], "queryset": queryset, "opts": self.model._meta,
                "missing_reason": "apply" in request.POST, "action_label": ModerationAction.Kind(action).label,
            })
        records = [moderate(submission, action, reason, request.user) for submission in queryset]
        told = sum(r.owner_notified for r in records)
        self.message_user(request, f"{ModerationAction.Kind(action).label}: {len(records)} submission(s); "
                          f"{told} owner(s) emailed (the others have no verified address).", messages.SUCCESS)
        return None

    @admin.action(description="Unpublish with a reason (the owner is told; they may publish again)")
    def unpublish_selected(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.Kind.UNPUBLISH)

    @admin.action(description="Hide with a reason (unpublished; the owner cannot publish it again)")
    def hide_selected(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.Kind.HIDE)

    @admin.action(description="Lift the hiding, with a reason (the owner may publish again)")
    def unhide_selected(self, request, queryset):
        return self._moderate(request, queryset, ModerationAction.Kind.UNHIDE)

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
    list_display = ("name", "owner", "created_at")
    search_fields = ("name",)
    filter_horizontal = ("members",)
    raw_id_fields = ("owner",)


@admin.register(ShardResult)
class ShardResultAdmin(admin.ModelAdmin):
    """Written by the workers only: viewable, never added or edited by hand (the reduction trusts these sums)."""

    list_display = ("submission", "benchmark", "shard_index", "sample_start", "sample_stop", "worker", "completed_at")
    list_filter = ("benchmark",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The moderation audit trail: read-only (written by the Submission actions, never edited or deleted)."""

    list_display = ("created_at", "action", "submission", "actor", "owner_notified", "reason")
    list_filter = ("action", "owner_notified")
    search_fields = ("submission__method_name", "actor__username", "reason")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
