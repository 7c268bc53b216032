"""Submissions, their guarded status machine, and the results the workers write."""
from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from leaderboard.benchmarks.models import Benchmark, Phase
from leaderboard.storage import private_storage
from leaderboard.submissions.events import submission_finalised


class Status(models.TextChoices):
    SUBMITTED = "submitted", "Submitted"
    VALIDATING = "validating", "Validating"
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    FINISHED = "finished", "Finished"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINAL_STATUSES = frozenset({Status.FINISHED, Status.FAILED, Status.CANCELLED})
IN_PROGRESS_STATUSES = frozenset({Status.SUBMITTED, Status.VALIDATING, Status.QUEUED, Status.RUNNING})

# Allowed moves. Re-entering VALIDATING/QUEUED from later states lets the sweeper re-queue a stuck run.
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.SUBMITTED: frozenset({Status.VALIDATING, Status.FAILED, Status.CANCELLED}),
    Status.VALIDATING: frozenset({Status.QUEUED, Status.SUBMITTED, Status.FAILED, Status.CANCELLED}),
    Status.QUEUED: frozenset({Status.RUNNING, Status.SUBMITTED, Status.FAILED, Status.CANCELLED}),
    Status.RUNNING: frozenset({Status.FINISHED, Status.QUEUED, Status.FAILED, Status.CANCELLED}),
    Status.FINISHED: frozenset(),
    Status.FAILED: frozenset(),
    Status.CANCELLED: frozenset(),
}


class SubmissionKind(models.TextChoices):
    PREDICTIONS = "predictions", "Predictions file (.npz or .zip of <benchmark>.npz)"
    CONTAINER = "container", "Model container image (OCI archive)"
    MODEL_ARCHIVE = "model_archive", "Model archive (TorchScript + manifest .zip)"


class BaselineSource(models.TextChoices):
    NONE = "", "Not a baseline"
    REPORTED = "reported", "Reported in a paper (not computed here)"
    COMPUTED = "computed", "Computed by this server"


class InvalidTransition(Exception):
    """Raised when a status change is not allowed from the row's current status."""


def new_invite_token() -> str:
    return secrets.token_urlsafe(24)


class Team(models.Model):
    """Users who submit together: a team's submissions share its quota and its board row (``submissions.teams``)."""

    name = models.CharField(max_length=120, unique=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="teams")
    # Manages members (invite, remove, transfer); null for teams made by staff before owners existed.
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, related_name="owned_teams",
                              on_delete=models.SET_NULL)
    # The secret of the team's join link (/teams/join/<token>/); the owner can replace it to revoke the old link.
    invite_token = models.CharField(max_length=64, unique=True, default=new_invite_token, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("team-detail", args=[self.pk])


class TeamInvitation(models.Model):
    """An invitation by username, waiting for the invited user to accept or decline it."""

    team = models.ForeignKey(Team, related_name="invitations", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="team_invitations", on_delete=models.CASCADE)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, related_name="+", on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="unique_invitation_per_team")]

    def __str__(self) -> str:
        return f"{self.user} to {self.team}"


def upload_path(instance: "Submission", filename: str) -> str:
    return f"uploads/{instance.uuid}/{filename}"


class Submission(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, related_name="submissions", on_delete=models.CASCADE)
    team = models.ForeignKey(Team, null=True, blank=True, related_name="submissions", on_delete=models.SET_NULL)
    method_name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    paper_url = models.URLField(blank=True)
    code_url = models.URLField(blank=True)
    kind = models.CharField(max_length=20, choices=SubmissionKind.choices, default=SubmissionKind.PREDICTIONS)
    benchmarks = models.ManyToManyField(Benchmark, related_name="submissions", blank=True)
    # The phase each benchmark was in when this was submitted (none for benchmarks without phases).
    phases = models.ManyToManyField(Phase, related_name="submissions", blank=True)
    # Stored relative to PRIVATE_STORAGE_ROOT by the private storage backend; only the owner can download it.
    upload = models.FileField(upload_to=upload_path, storage=private_storage, max_length=500, blank=True)
    upload_sha256 = models.CharField(max_length=64, blank=True)
    upload_size = models.BigIntegerField(default=0)

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED, db_index=True)
    error_message = models.TextField(blank=True)
    log = models.TextField(blank=True, help_text="Truncated stdout/stderr of a model run; staff only (it ran on held-out data).")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    # Model submissions: runs started (the attempt counter that survives a lost worker; any run counts
    # toward the daily quota) and whether a sandbox may still be running (counted as in progress until
    # it stopped, even once the submission is cancelled or failed).
    model_runs = models.PositiveIntegerField(default=0)
    sandbox_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True, help_text="Host name of the worker that last reported.")
    # Written by the workers: {"validate_task_id": str, "shards": [{"benchmark": id, "index", "start", "stop",
    # "task_id"}], "finalize_task_id": str}. Lets cancel revoke pending tasks and the sweeper re-send lost shards.
    eval_plan = models.JSONField(default=dict, blank=True)

    is_public = models.BooleanField(default=False, help_text="Shown on public leaderboards (owner publishes).")
    # Set by a host's "hide" (leaderboard.submissions.moderation, reason in ModerationAction): unpublished, and the
    # owner cannot publish it again until a host lifts it.
    is_hidden = models.BooleanField(default=False, help_text="Hidden by the hosts; the owner cannot publish it.")
    baseline_source = models.CharField(max_length=10, choices=BaselineSource.choices, default="", blank=True)
    citation = models.CharField(max_length=300, blank=True)

    # Provenance of a computed row (issue 22 §5): the model artefact or checkpoint it came from and the code commit
    # (reference models: this repository's; users: their own, optional). Code URL above; protocol and evaluator
    # versions on each BenchmarkResult. ``provenance`` holds the rest (arch, size, training config, scaling run).
    checkpoint_sha256 = models.CharField(max_length=64, blank=True)
    code_commit = models.CharField(max_length=40, blank=True)
    provenance = models.JSONField(default=dict, blank=True)

    mpe = models.FloatField(null=True, blank=True)
    hand_mpe = models.FloatField(null=True, blank=True)
    pa_hand_mpe = models.FloatField(null=True, blank=True)
    # What each score above was derived from: {"mpe": [{"benchmark", "split", "protocol", "protocol_version"}], ...}
    # (leaderboard.submissions.scores.Coverage); rows are ranked together only when their coverage is the same.
    score_coverage = models.JSONField(default=dict, blank=True)
    mpe_coverage_key = models.CharField(max_length=64, blank=True, db_index=True, help_text="Coverage(...).key of mpe.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self) -> str:
        return f"{self.method_name} ({self.uuid})"

    def get_absolute_url(self) -> str:
        return reverse("submission-detail", args=[self.uuid])

    def predictions_name(self, benchmark_slug: str) -> str:
        """Where this submission's validated predictions for one benchmark live, relative to PRIVATE_STORAGE_ROOT.

        The web upload (one npz, or each member of a zip) and the model runners both write here; workers read here.
        """
        return f"uploads/{self.uuid}/predictions/{benchmark_slug}.npz"

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def is_baseline(self) -> bool:
        return bool(self.baseline_source)

    @property
    def progress_percent(self) -> int:
        if self.status == Status.FINISHED:
            return 100
        return int(100 * self.progress_done / self.progress_total) if self.progress_total else 0

    def transition(self, to: str, **fields) -> None:
        """Move to ``to`` atomically: a conditional UPDATE, so concurrent workers cannot both win.

        Raises InvalidTransition when the stored status does not allow the move (e.g. it is final).
        """
        allowed_from = [src for src, targets in TRANSITIONS.items() if to in targets]
        now = timezone.now()
        fields.setdefault("heartbeat_at", now)
        if to == Status.RUNNING:
            fields.setdefault("started_at", now)
        if to in FINAL_STATUSES:
            fields.setdefault("finished_at", now)
        updated = type(self).objects.filter(pk=self.pk, status__in=allowed_from).update(status=to, **fields)
        if not updated:
            current = type(self).objects.filter(pk=self.pk).values_list("status", flat=True).first()
            raise InvalidTransition(f"Submission {self.uuid}: cannot go from {current!r} to {to!r}.")
        self.status = to
        for name, value in fields.items():
            setattr(self, name, value)
        if to in FINAL_STATUSES:
            submission_finalised.send(type(self), submission=self)  # workers.notify queues the owner's email


class ProtocolStamp(models.Model):
    """Which evaluation protocol (and versions) produced a row: numbers are comparable only under the same stamp."""

    protocol = models.CharField(max_length=40, blank=True)
    protocol_version = models.CharField(max_length=40, blank=True)
    protocol_options = models.JSONField(default=dict, blank=True, help_text="The protocol's resolved options.")
    evaluator_version = models.CharField(max_length=40, blank=True)

    @property
    def protocol_label(self) -> str:
        """e.g. 'smplx-generic v2 (evaluator 2.0.0)'; '' when not recorded (results from before protocols)."""
        if not self.protocol:
            return ""
        label = f"{self.protocol} v{self.protocol_version}" if self.protocol_version else self.protocol
        return f"{label} (evaluator {self.evaluator_version})" if self.evaluator_version else label

    class Meta:
        abstract = True


class BenchmarkResult(ProtocolStamp):
    """Every metric (mm) of one submission on one benchmark split."""

    submission = models.ForeignKey(Submission, related_name="results", on_delete=models.CASCADE)
    benchmark = models.ForeignKey(Benchmark, related_name="results", on_delete=models.CASCADE)
    split = models.CharField(max_length=40, default="test")
    metrics = models.JSONField(default=dict)
    primary_value = models.FloatField(null=True, blank=True, help_text="Denormalised for sorting.")
    num_samples = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["benchmark__display_order", "benchmark__slug", "split"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "benchmark", "split"], name="unique_result_per_split")
        ]

    def __str__(self) -> str:
        return f"{self.submission_id} {self.benchmark.slug}/{self.split}"


class ShardResult(ProtocolStamp):
    """Metric sums and counts of one evaluated shard (per split), so the reduction is exact and idempotent."""

    submission = models.ForeignKey(Submission, related_name="shards", on_delete=models.CASCADE)
    benchmark = models.ForeignKey(Benchmark, related_name="+", on_delete=models.CASCADE)
    shard_index = models.PositiveIntegerField()
    sample_start = models.PositiveIntegerField()
    sample_stop = models.PositiveIntegerField()
    sums = models.JSONField(default=dict, help_text="{split: MetricSums.to_dict()}")
    worker = models.CharField(max_length=200, blank=True)
    completed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["submission", "benchmark", "shard_index"]
        constraints = [
            models.UniqueConstraint(fields=["submission", "benchmark", "shard_index"], name="unique_shard")
        ]


class EfficiencySource(models.TextChoices):
    MEASURED = "measured", "Measured by this server"
    REPORTED = "reported", "Reported by the submitter"


class Efficiency(models.Model):
    """Speed and size of a submission's model on one benchmark: measured where this server ran the model (sandbox
    runner, reference models), else as the submitter reported them (``leaderboard.submissions.efficiency``)."""

    submission = models.ForeignKey(Submission, related_name="efficiency", on_delete=models.CASCADE)
    benchmark = models.ForeignKey(Benchmark, related_name="+", on_delete=models.CASCADE)
    source = models.CharField(max_length=10, choices=EfficiencySource.choices)
    ms_per_image = models.FloatField(null=True, blank=True, help_text="Median after a warm-up (measured).")
    peak_memory_mb = models.FloatField(null=True, blank=True)
    device = models.CharField(max_length=80, blank=True)
    params = models.BigIntegerField(null=True, blank=True, help_text="Parameter count of the model.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["submission", "benchmark"], name="unique_efficiency")]

    def __str__(self) -> str:
        return f"{self.submission_id} {self.benchmark_id} ({self.source})"


class LeaderboardVersion(models.Model):
    """A single row whose token changes whenever a public leaderboard may have changed.

    Cached rankings are keyed by the token (see ``leaderboard.submissions.board_cache``), so bumping it is the
    whole invalidation. It lives in the database, not the cache, so every process (gunicorn workers, Celery
    workers) sees the same value even with a per-process cache, and the bump commits with the change itself.
    """

    token = models.CharField(max_length=32)
    changed_at = models.DateTimeField()
    # Every phase start and end (ISO strings, sorted) as of the last bump: readers fold the ones passed into the
    # token (``board_cache.with_clock``) without another query. Phase saves bump, so it is never stale.
    phase_boundaries = models.JSONField(default=list, blank=True)

    def __str__(self) -> str:
        return f"leaderboard version {self.token} ({self.changed_at:%Y-%m-%d %H:%M:%S})"


class ModerationAction(models.Model):
    """The audit trail of host moderation: who did what to which submission, when and why (the owner is told)."""

    class Kind(models.TextChoices):
        UNPUBLISH = "unpublish", "Unpublished"
        HIDE = "hide", "Hidden"
        UNHIDE = "unhide", "Hiding lifted"

    submission = models.ForeignKey(Submission, related_name="moderation", on_delete=models.CASCADE)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, related_name="+", on_delete=models.SET_NULL)
    action = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.TextField()
    owner_notified = models.BooleanField(default=False, help_text="Emailed to the owner (verified addresses only).")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.get_action_display()}: {self.submission.method_name} by {self.actor} ({self.created_at:%Y-%m-%d})"
