from django.contrib import admin, messages

from leaderboard.submissions.models import BenchmarkResult, InvalidTransition, ShardResult, Status, Submission, Team


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
    readonly_fields = (
        "uuid", "upload", "upload_sha256", "upload_size", "progress_done", "progress_total", "attempts",
        "created_at", "started_at", "finished_at", "heartbeat_at",
    )
    actions = ["cancel_selected"]

    @admin.action(description="Cancel the selected submissions (those not final yet)")
    def cancel_selected(self, request, queryset) -> None:
        from leaderboard.submissions.actions import cancel_submission

        done = 0
        for submission in queryset.exclude(status__in=[Status.FINISHED, Status.FAILED, Status.CANCELLED]):
            try:
                cancel_submission(submission)
                done += 1
            except InvalidTransition:
                pass
        self.message_user(request, f"Cancelled {done} submission(s).", messages.SUCCESS)


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    search_fields = ("name",)
    filter_horizontal = ("members",)


@admin.register(ShardResult)
class ShardResultAdmin(admin.ModelAdmin):
    list_display = ("submission", "benchmark", "shard_index", "sample_start", "sample_stop", "worker", "completed_at")
    list_filter = ("benchmark",)
