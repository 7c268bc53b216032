from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.template.response import TemplateResponse

from django.urls import reverse
from django.utils.html import format_html

from leaderboard.benchmarks.events import splits_opened
from leaderboard.benchmarks.models import GT_PARTS, Benchmark, BenchmarkImport, Phase, Split
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
    fields = ("name", "num_samples", "is_revealed", "is_ranking", "public_ground_truth")
    readonly_fields = ("name", "num_samples")


class PhaseInline(admin.TabularInline):
    """Phases (dates, board splits, quotas, results before the end); a save bumps the leaderboard version."""

    model = Phase
    extra = 0
    fields = ("name", "title", "starts_at", "ends_at", "splits", "submissions_per_day", "max_submissions",
              "results_before_end")


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
    inlines = [SplitInline, PhaseInline]
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
    """Revealing, ranking and hiding are separate actions; the two that publish or reorder ask first."""

    list_display = ("benchmark", "name", "num_samples", "is_revealed", "is_ranking", "public_ground_truth")
    list_filter = ("is_revealed", "is_ranking", "public_ground_truth", "benchmark")
    actions = ["reveal_splits", "make_ranking", "hide_splits"]

    def _confirmation(self, request, queryset, action: str, verb: str, consequence: str) -> TemplateResponse | None:
        """The confirmation page, until it is answered (POST confirm=yes); then None and the action runs."""
        if request.POST.get("confirm") == "yes":
            return None
        return TemplateResponse(request, "admin/benchmarks/split/confirm_action.html", {
            **self.admin_site.each_context(request), "title": f"{verb.capitalize()}?", "opts": self.model._meta,
            "splits": queryset.select_related("benchmark"), "action": action, "verb": verb,
            "consequence": consequence, "checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })

    @staticmethod
    def _changed() -> None:
        schedule_score_refresh()  # bulk updates send no signals
        bump_version()

    @admin.action(description="Reveal the selected splits (results become public)...")
    def reveal_splits(self, request, queryset):
        page = self._confirmation(request, queryset, "reveal_splits", "reveal these splits",
                                  "Every result on them becomes public at once (pages, API, exports, MPE if a split "
                                  "is its benchmark's ranking split). The ranking split does not change.")
        if page is not None:
            return page
        opened = list(queryset.filter(is_revealed=False).values_list("pk", flat=True))
        count = Split.objects.filter(pk__in=opened).update(is_revealed=True)
        self._changed()
        splits_opened.send(Split, split_ids=opened)  # bulk updates send no post_save: the failure pictures
        self.message_user(request, f"Revealed {count} split(s).", messages.SUCCESS)
        return None

    @admin.action(description="Make the selected split its benchmark's ranking split...")
    def make_ranking(self, request, queryset):
        splits = list(queryset.select_related("benchmark"))
        slugs = [s.benchmark.slug for s in splits]
        twice = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if twice:
            self.message_user(request, f"One ranking split per benchmark: {', '.join(twice)} has several selected.",
                              messages.ERROR)
            return None
        hidden = [f"{s.benchmark.slug}/{s.name}" for s in splits if not s.is_revealed]
        page = self._confirmation(request, queryset, "make_ranking", "rank by these splits",
                                  "The leaderboard and MPE of each benchmark will rank by the selected split. "
                                  + (f"Still hidden: {', '.join(hidden)}; its board and MPE show nothing until it is "
                                     "revealed (a separate action)." if hidden else "Reveals nothing."))
        if page is not None:
            return page
        for split in splits:
            split.benchmark.splits.exclude(pk=split.pk).update(is_ranking=False)
            Split.objects.filter(pk=split.pk).update(is_ranking=True)
        self._changed()
        self.message_user(request, f"{len(splits)} benchmark(s) now rank by the selected split.", messages.SUCCESS)
        return None

    @admin.action(description="Hide the selected splits (results staff-only)")
    def hide_splits(self, request, queryset) -> None:
        count = queryset.filter(is_revealed=True).update(is_revealed=False)
        self._changed()
        self.message_user(request, f"Hid {count} split(s).", messages.SUCCESS)


@admin.register(BenchmarkImport)
class BenchmarkImportAdmin(admin.ModelAdmin):
    """Imports started on the staff page, read-only: the page (/host/import/) starts them and shows their report."""

    list_display = ("pk", "slug", "state", "created_by", "created_at", "finished_at", "page")
    list_filter = ("state",)
    search_fields = ("slug",)
    readonly_fields = [f.name for f in BenchmarkImport._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="report")
    def page(self, obj: BenchmarkImport) -> str:
        return format_html('<a href="{}">import page</a>', reverse("host-import-detail", args=[obj.pk]))

