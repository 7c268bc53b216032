from django import forms
from django.contrib import admin, messages

from leaderboard.benchmarks.models import GT_PARTS, Benchmark, Split
from leaderboard.submissions.scores import schedule_score_refresh
from leaderboard.submissions.board_cache import bump_version


class ImportedOnly:
    """Benchmarks and splits come from ``manage.py import_benchmark`` (it validates and stores the ground truth);
    a row added by hand would have no GT behind it, so the admin only edits them."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class SplitInline(ImportedOnly, admin.TabularInline):
    model = Split
    extra = 0
    can_delete = False
    fields = ("name", "num_samples", "is_revealed", "is_ranking")
    readonly_fields = ("name", "num_samples")


def protocol_choices() -> list[tuple[str, str]]:
    from evaluator.protocols import available_protocols

    return [(name, name) for name in available_protocols()]


class BenchmarkForm(forms.ModelForm):
    protocol = forms.ChoiceField(choices=protocol_choices, help_text="How results are computed (docs/metrics.md); "
                                 "changing it recomputes MPE, but existing results keep the protocol they were computed with.")
    gt_parts = forms.TypedMultipleChoiceField(
        choices=[(p, p) for p in GT_PARTS], widget=forms.CheckboxSelectMultiple,
        help_text="Parts the ground truth has; metrics of the others show n/a and hand MPE needs hands.",
    )

    class Meta:
        model = Benchmark
        fields = "__all__"


@admin.register(Benchmark)
class BenchmarkAdmin(ImportedOnly, admin.ModelAdmin):
    change_list_template = "admin/benchmarks/benchmark/change_list.html"  # says how to add one
    form = BenchmarkForm
    list_display = ("slug", "name", "protocol", "primary_metric", "num_samples", "counts_toward_mpe", "counts_toward_hand_mpe", "is_active", "display_order")
    list_editable = ("is_active", "display_order")
    search_fields = ("slug", "name")
    inlines = [SplitInline]
    # GT location and checksum come from `manage.py import_benchmark`; editing them by hand would desync the files.
    readonly_fields = ("gt_path", "gt_sha256", "images_path", "num_samples", "created_at")
    fieldsets = (
        (None, {"fields": ("slug", "name", "description", "paper_url", "data_url", "is_active", "display_order")}),
        ("Scoring", {"fields": ("protocol", "protocol_options", "gt_parts", "primary_metric", "counts_toward_mpe",
                                "counts_toward_hand_mpe")}),
        ("Private data (set by import_benchmark)", {"fields": ("gt_path", "gt_sha256", "images_path", "num_samples", "created_at")}),
    )


@admin.register(Split)
class SplitAdmin(ImportedOnly, admin.ModelAdmin):
    list_display = ("benchmark", "name", "num_samples", "is_revealed", "is_ranking")
    list_filter = ("is_revealed", "is_ranking", "benchmark")
    actions = ["reveal_and_rank"]

    @admin.action(description="Reveal the selected splits and make them their benchmark's ranking split")
    def reveal_and_rank(self, request, queryset) -> None:
        for split in queryset.select_related("benchmark"):
            split.benchmark.splits.exclude(pk=split.pk).update(is_ranking=False)
            Split.objects.filter(pk=split.pk).update(is_revealed=True, is_ranking=True)
        schedule_score_refresh()  # bulk updates send no signals
        bump_version()  # the updates above send no signal
        self.message_user(request, f"Revealed {queryset.count()} split(s).", messages.SUCCESS)
