"""Benchmarks and their splits. Ground-truth files live in private storage and are never served."""
from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q
from django.urls import reverse

GT_PARTS = ("body", "hands", "face")


def all_gt_parts() -> list[str]:
    return list(GT_PARTS)


class Benchmark(models.Model):
    """One evaluation set (e.g. AGORA-val, EHF), scored on its ``primary_metric`` (lower is better)."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    paper_url = models.URLField(blank=True)
    data_url = models.URLField(blank=True)
    primary_metric = models.CharField(max_length=40, default="mpvpe_all")
    # The evaluation protocol (evaluator.protocols) that turns GT + predictions into metrics, and its options.
    protocol = models.CharField(max_length=40, default="smplx-generic", help_text="evaluator.protocols name.")
    protocol_options = models.JSONField(default=dict, blank=True, help_text="Options of the protocol (JSON object).")
    # Which parts the GT has: metrics of other parts are "n/a" here, and hand MPE needs "hands".
    gt_parts = models.JSONField(default=all_gt_parts, blank=True, help_text='Parts with GT, e.g. ["body", "hands", "face"].')
    counts_toward_mpe = models.BooleanField(default=True, help_text="Averaged into the overall MPE.")
    counts_toward_hand_mpe = models.BooleanField(default=True, help_text="Has hand GT; averaged into hand MPE.")
    num_samples = models.PositiveIntegerField(default=0)
    # Path relative to PRIVATE_STORAGE_ROOT. A plain string, not a FileField, so no storage URL exists for it.
    gt_path = models.CharField(max_length=500, help_text="Relative to PRIVATE_STORAGE_ROOT; never served.")
    gt_sha256 = models.CharField(max_length=64, blank=True)
    # Held-out images for model submissions (relative to PRIVATE_STORAGE_ROOT); empty = predictions only.
    images_path = models.CharField(max_length=500, blank=True)
    accepts_predictions = models.BooleanField(
        default=True, help_text="Predictions files accepted. Off = models only: the inputs are held out, so a "
        "predictions file could only come from elsewhere, and its sample ids are not disclosed.")
    is_active = models.BooleanField(default=True, help_text="Accepting submissions.")
    display_order = models.PositiveIntegerField(default=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_order", "slug"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("benchmark-detail", args=[self.slug])

    def get_protocol(self):
        """The configured ``evaluator.protocols.Protocol``; ValueError naming the problem for a bad name/options."""
        from evaluator.protocols import get_protocol

        if not isinstance(self.protocol_options, dict):
            raise ValueError(f"protocol options must be a JSON object, got {self.protocol_options!r}")
        return get_protocol(self.protocol, self.protocol_options)

    def clean(self) -> None:
        from evaluator.protocols import available_protocols

        errors: dict[str, str] = {}
        try:
            protocol = self.get_protocol()
        except ValueError as exc:
            field = "protocol" if self.protocol not in available_protocols() else "protocol_options"
            raise ValidationError({field: str(exc)}) from None
        if self.primary_metric not in protocol.ranking_metrics:
            errors["primary_metric"] = (f"Unknown primary metric {self.primary_metric!r} for protocol {protocol.name!r}; "
                                        f"choose one of {', '.join(protocol.ranking_metrics)}.")
        if not protocol.in_mpe:  # e.g. F1-normalised errors of whole images: averaging them into MPE means nothing
            for field, score in (("counts_toward_mpe", "MPE"), ("counts_toward_hand_mpe", "hand MPE")):
                if getattr(self, field):
                    errors[field] = f"Protocol {protocol.name!r} is never averaged into {score}: untick this."
        if not isinstance(self.gt_parts, list) or not set(self.gt_parts) <= set(GT_PARTS) or not self.gt_parts:
            errors["gt_parts"] = f"A non-empty list drawn from {', '.join(GT_PARTS)}; got {self.gt_parts!r}."
        elif not set(self.gt_parts) <= protocol.parts:
            errors["gt_parts"] = (f"Protocol {protocol.name!r} has GT for {', '.join(sorted(protocol.parts))} only; "
                                  f"got {', '.join(self.gt_parts)}.")
        elif self.counts_toward_hand_mpe and "hands" not in self.gt_parts:
            errors["counts_toward_hand_mpe"] = "Hand MPE needs hand GT: add 'hands' to the GT parts or untick this."
        if errors:
            raise ValidationError(errors)

    @property
    def protocol_in_mpe(self) -> bool:
        """Whether its protocol may be averaged into MPE at all (agora-multiperson ranks by its own figures)."""
        try:
            return self.get_protocol().in_mpe
        except ValueError:
            return True

    @property
    def protocol_layout(self) -> str:
        """What its predictions file holds (``Protocol.prediction_layout``): "samples" or "people" of whole images."""
        try:
            return self.get_protocol().prediction_layout
        except ValueError:
            return "samples"

    @property
    def protocol_keeps_per_sample(self) -> bool:
        try:
            return self.get_protocol().per_sample_rows
        except ValueError:
            return True

    @property
    def primary_metric_label(self) -> str:
        labels = self.metric_labels()
        return labels[self.primary_metric].label if self.primary_metric in labels else self.primary_metric

    @property
    def has_hand_gt(self) -> bool:
        return "hands" in (self.gt_parts or ())

    def applicable_metrics(self) -> tuple[str, ...]:
        """Metric keys this benchmark reports: those its protocol produces for the parts its GT has.

        The boards and the submission page show only these columns (3DPW: the two body MPJPEs).
        """
        return tuple(self.metric_labels())

    def metric_labels(self) -> dict:
        """``{key: evaluator.metric_names.MetricLabel}`` of ``applicable_metrics``, in display order (the protocol's
        ``result_labels``: agora-multiperson adds P/R/F1 and F1-normalised errors)."""
        from evaluator.metric_names import ALL_METRIC_LABELS

        parts = set(self.gt_parts or ())
        try:
            labels = self.get_protocol().result_labels()
        except ValueError:  # a stored protocol this evaluator no longer knows: judge by the parts alone
            labels = ALL_METRIC_LABELS
        return {key: m for key, m in labels.items() if m.part == "all" or m.part in parts}

    @property
    def accepts_models(self) -> bool:
        return bool(self.images_path)

    @property
    def ranking_split(self) -> "Split | None":
        """The split the leaderboard ranks by: the first revealed ranking split."""
        return self.splits.filter(is_ranking=True, is_revealed=True).first()


class Split(models.Model):
    """A named subset of a benchmark's samples (GT ``splits`` array), e.g. a public dev and a hidden test split.

    Every submission is scored on all splits; a split's results are shown only once ``is_revealed``.
    """

    benchmark = models.ForeignKey(Benchmark, related_name="splits", on_delete=models.CASCADE)
    name = models.SlugField(max_length=40)
    num_samples = models.PositiveIntegerField(default=0)
    is_revealed = models.BooleanField(default=True, help_text="Results on this split are visible to everyone.")
    is_ranking = models.BooleanField(default=False, help_text="The leaderboard and MPE rank by this split.")
    # Renders of the worst samples may show GT (grey mesh, per-vertex error colours) only here: per-vertex errors of a
    # few crafted submissions would trilaterate every GT vertex (docs/security.md, "Failure renders").
    public_ground_truth = models.BooleanField(
        default=False, help_text="The GT of this split is published anyway (e.g. a validation set): renders of the "
                                 "worst samples may show the GT mesh and per-vertex errors.")

    class Meta:
        ordering = ["benchmark", "name"]
        constraints = [models.UniqueConstraint(fields=["benchmark", "name"], name="unique_split_per_benchmark")]

    def __str__(self) -> str:
        return f"{self.benchmark.slug}/{self.name}"


class Phase(models.Model):
    """A period in which a benchmark takes submissions (development, test, final...), with its own board splits,
    quotas and whether results show before it ends. Phases of a benchmark do not overlap, so the time of a
    submission names its phase; a benchmark without phases is always open. Services: ``benchmarks.phases``."""

    benchmark = models.ForeignKey(Benchmark, related_name="phases", on_delete=models.CASCADE)
    name = models.SlugField(max_length=40, help_text="In board addresses (?phase=name).")
    title = models.CharField(max_length=120, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True, help_text="Empty: open from the start.")
    ends_at = models.DateTimeField(null=True, blank=True, help_text="Empty: open-ended.")
    splits = models.JSONField(default=list, blank=True, help_text='Split names its board shows, e.g. ["dev"]; empty: all.')
    submissions_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per user (and per team) per UTC day; empty: SUBMISSIONS_PER_BENCHMARK_PER_DAY.")
    max_submissions = models.PositiveIntegerField(
        null=True, blank=True, help_text="Per user (and per team) over the whole phase; empty: no limit.")
    results_before_end = models.BooleanField(
        default=True, help_text="Off: results of its submissions are shown to staff only until the phase ends.")

    class Meta:
        ordering = ["benchmark", F("starts_at").asc(nulls_first=True), "name"]
        constraints = [models.UniqueConstraint(fields=["benchmark", "name"], name="unique_phase_per_benchmark")]

    def __str__(self) -> str:
        return f"{self.benchmark.slug}/{self.name}"

    @property
    def label(self) -> str:
        return self.title or self.name

    @property
    def dates(self) -> str:
        """e.g. 'from 2026-12-01 00:00 UTC until 2026-12-31 00:00 UTC'; 'open-ended' without dates."""
        start = f"from {self.starts_at:%Y-%m-%d %H:%M} UTC" if self.starts_at else ""
        end = f"until {self.ends_at:%Y-%m-%d %H:%M} UTC" if self.ends_at else "open-ended"
        return f"{start} {end}".strip()

    def is_open(self, now: datetime) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and (self.ends_at is None or now < self.ends_at)

    def hides_results(self, now: datetime) -> bool:
        """Results of its submissions are hidden now (from all but staff): not shown before an end that is ahead."""
        return not self.results_before_end and (self.ends_at is None or now < self.ends_at)

    def clean(self) -> None:
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The end must come after the start."})
        if not isinstance(self.splits, list) or not all(isinstance(name, str) for name in self.splits):
            raise ValidationError({"splits": f"A list of split names; got {self.splits!r}."})
        if self.benchmark_id is None:
            return
        unknown = sorted(set(self.splits) - set(self.benchmark.splits.values_list("name", flat=True)))
        if unknown:
            raise ValidationError({"splits": f"No such split of {self.benchmark.slug}: {', '.join(unknown)}."})
        overlapping = self.benchmark.phases.exclude(pk=self.pk).filter(
            Q(starts_at__isnull=True) | Q(starts_at__lt=self.ends_at) if self.ends_at else Q(),
            Q(ends_at__isnull=True) | Q(ends_at__gt=self.starts_at) if self.starts_at else Q(),
        ).first()
        if overlapping is not None:
            raise ValidationError(f"Phases of a benchmark may not overlap: {overlapping.name} runs {overlapping.dates}.")


class BenchmarkImport(models.Model):
    """One import started from the staff import page: what it was told, its progress and its report.

    A worker runs it (``workers.imports``) with ``leaderboard.benchmarks.importing.run_import``, the code
    ``manage.py import_benchmark`` runs; the benchmark changes only if it succeeds.
    """

    class State(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    created_by = models.ForeignKey("auth.User", null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    slug = models.SlugField()
    options = models.JSONField(default=dict, help_text="importing.ImportRequest without its paths.")
    # Private-store names: the bundle (an uploaded one is removed once the import ends) and the file or folder in it.
    bundle_name = models.CharField(max_length=500)
    bundle_uploaded = models.BooleanField(default=False, help_text="Uploaded on the page (removed when done).")
    source_path = models.CharField(max_length=500, blank=True, help_text="File or folder inside a .zip bundle.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.QUEUED)
    progress = models.FloatField(default=0.0)
    stage = models.CharField(max_length=200, blank=True)
    report = models.TextField(blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text="import_report.ImportChanges: notes and score moves.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import #{self.pk} of {self.slug} ({self.state})"

    @property
    def is_final(self) -> bool:
        return self.state in (self.State.SUCCEEDED, self.State.FAILED)
