"""Baselines on the leaderboard: published ('reported') figures and reference models the server runs ('computed').

- ``import_reported_baselines`` copies the figures of ``reference_models.baselines`` into finished, public
  Submission rows owned by the system user, flagged ``baseline_source='reported'``. They are never evaluated:
  no upload, no shards, no worker task; their MPE is the published number and per-benchmark figures become
  BenchmarkResult rows only where a source gives them and the benchmark exists here.
- ``submit_reference_model`` runs a ``reference_models`` checkpoint on a benchmark's held-out images (the
  server's copy; the GT is never read) and submits the predictions through ``actions.create_submission``, the
  path the web form and the API use, so they are validated, stored and scored by the normal pipeline. A
  models-only benchmark refuses predictions uploads, so there (as for the demo's reference row)
  ``store_computed_row`` stores the server's own run where a model run's predictions go; the workers score it.
"""
from __future__ import annotations

import json
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.contrib.auth import get_user_model
from django.core.files import File
from django.db import transaction
from django.utils import timezone

from ehps_client.hashing import file_sha256
from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import GROUND_TRUTH, local_folder, local_path
from leaderboard.submissions.actions import create_submission
from leaderboard.submissions.board_cache import bump_version
from leaderboard.submissions.efficiency import store_efficiency
from leaderboard.submissions.models import (
    BaselineSource, BenchmarkResult, EfficiencySource, Status, Submission, SubmissionKind,
)
from leaderboard.submissions.scores import REPORTED_PROTOCOL, Coverage, CoverageEntry
from evaluator.mpe import PRIMARY_METRIC
from reference_models.baselines import BaselineRow, baseline_rows

SYSTEM_USERNAME = "baselines"
MPE_KEY = "mpe"  # BaselineRow.benchmark of the 5-benchmark mean rows
PUBLISHED_MPE_BENCHMARKS = tuple(PRIMARY_METRIC)  # agora, egobody, ubody, 3dpw, ehf (evaluator.mpe)
SMPLER_X_PAPER = "https://arxiv.org/abs/2309.17448"
MPE_NOTE = ("MPE as published: the mean primary error over the five SMPLer-X benchmarks (AGORA, EHF, UBody, "
            "EgoBody, 3DPW). Copied from the source, not computed on this server's benchmarks.")
ARCH_LABELS = {"smpler_x": "SMPLer-X", "smplest_x": "SMPLest-X"}
ARCH_CITATIONS = {
    "smpler_x": "SMPLer-X architecture (Cai et al., NeurIPS 2023), re-implemented in reference_models/",
    "smplest_x": "SMPLest-X architecture (Yin et al., arXiv 2501.09782), re-implemented in reference_models/",
}


class BaselineError(ValueError):
    """A baseline cannot be imported or run; the message says why (shown by the management commands)."""


def system_user():
    """The account that owns baselines: created on first use with an unusable password (nobody logs in as it)."""
    user, created = get_user_model().objects.get_or_create(username=SYSTEM_USERNAME, defaults={"first_name": "Baselines"})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def user_named(username: str | None):
    """The account a command submits as: None (the system user) when no name is given; BaselineError if unknown."""
    if not username:
        return None
    user = get_user_model().objects.filter(username=username).first()
    if user is None:
        raise BaselineError(f"No user named {username!r}.")
    return user


# --- reported figures ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ImportedRow:
    method_name: str
    created: bool
    benchmark: str | None  # the leaderboard slug its figures went to; None for an MPE-only row


@dataclass(frozen=True)
class ImportReport:
    rows: list[ImportedRow]
    skipped: dict[str, str]  # published benchmark key -> why its rows were left out


def reported_method_name(row: BaselineRow) -> str:
    """Method plus its variant note, so e.g. OSX and 'OSX [finetuned on UBody]' are distinct leaderboard rows."""
    return f"{row.method} [{row.notes}]" if row.notes else row.method


def _ranking_split_name(benchmark: Benchmark) -> str:
    split = benchmark.splits.filter(is_ranking=True).first() or benchmark.splits.order_by("name").first()
    return split.name if split else "test"


def reported_coverage(row: BaselineRow) -> Coverage:
    """What a published MPE averages: the five SMPLer-X benchmarks' test sets, under the source's protocol.

    Never equal to a server-computed coverage, so a reported MPE is ranked only with rows from the same source.
    """
    if row.benchmark != MPE_KEY:
        return Coverage()
    return Coverage.of(CoverageEntry(key, "test", REPORTED_PROTOCOL, row.source) for key in PUBLISHED_MPE_BENCHMARKS)


def _description(row: BaselineRow, benchmark: Benchmark | None) -> str:
    parts = [MPE_NOTE] if row.benchmark == MPE_KEY else [
        f"Published '{row.benchmark}' figures copied onto benchmark '{benchmark.slug}' (not computed here; the "
        "published test set may differ from this server's copy)."
    ]
    if row.third_party:
        parts.append("Third-party transcription of the paper's table, not yet checked against the PDF.")
    if row.params_millions:
        parts.append(f"{row.params_millions:g}M parameters.")
    return " ".join(parts)


def _store_reported_row(row: BaselineRow, owner, benchmark: Benchmark | None) -> ImportedRow:
    method_name = reported_method_name(row)
    fields = {
        "owner": owner, "description": _description(row, benchmark), "paper_url": SMPLER_X_PAPER,
        "status": Status.FINISHED, "is_public": True, "error_message": "",
        "mpe": row.metrics.get(MPE_KEY), "hand_mpe": None, "pa_hand_mpe": None,
        "score_coverage": {"mpe": reported_coverage(row).to_json()} if row.benchmark == MPE_KEY else {},
        "mpe_coverage_key": reported_coverage(row).key,
    }
    submission = (Submission.objects.select_for_update()
                  .filter(baseline_source=BaselineSource.REPORTED, method_name=method_name, citation=row.source)
                  .order_by("pk").first())
    created = submission is None
    if created:
        submission = Submission.objects.create(
            baseline_source=BaselineSource.REPORTED, method_name=method_name, citation=row.source,
            finished_at=timezone.now(), **fields)
    else:
        Submission.objects.filter(pk=submission.pk).update(**fields)
        bump_version()  # an update() sends no signal; the cached boards hold the old figures
    # The row's results are exactly the source's figures: drop any left from an earlier mapping.
    stale = BenchmarkResult.objects.filter(submission=submission)
    if benchmark is not None:
        split = _ranking_split_name(benchmark)
        metrics = dict(row.metrics)
        BenchmarkResult.objects.update_or_create(
            submission=submission, benchmark=benchmark, split=split,
            defaults={"metrics": metrics, "primary_value": metrics.get(benchmark.primary_metric), "num_samples": 0,
                      "protocol": REPORTED_PROTOCOL, "protocol_version": "", "evaluator_version": ""},
        )
        stale = stale.exclude(benchmark=benchmark, split=split)
    stale.delete()
    return ImportedRow(method_name, created, benchmark.slug if benchmark else None)


def import_reported_baselines(benchmark_map: Mapping[str, str] | None = None) -> ImportReport:
    """Create or update every reported row (idempotent: keyed by method name + source).

    ``benchmark_map`` maps a published benchmark key (e.g. ``ubody``) to the slug of this server's benchmark;
    unmapped keys map to the same slug. Rows of a benchmark that does not exist here are skipped.
    """
    mapping = dict(benchmark_map or {})
    published = sorted({r.benchmark for r in baseline_rows()} - {MPE_KEY})
    unknown = sorted(set(mapping) - set(published))
    if unknown:
        raise BaselineError(f"No published per-benchmark figures for {', '.join(unknown)}; "
                            f"known: {', '.join(published)}.")
    targets: dict[str, Benchmark | None] = {MPE_KEY: None}
    skipped: dict[str, str] = {}
    for key in published:
        slug = mapping.get(key, key)
        benchmark = Benchmark.objects.filter(slug=slug).first()
        if benchmark is None:
            skipped[key] = f"no benchmark with slug '{slug}' on this server"
        else:
            targets[key] = benchmark
    with transaction.atomic():
        owner = system_user()
        rows = [_store_reported_row(row, owner, targets[row.benchmark])
                for row in baseline_rows() if row.benchmark in targets]
    return ImportReport(rows, skipped)


# --- computed: run a reference model -------------------------------------------------------------------------

def held_out_images_dir(benchmark: Benchmark) -> Path:
    """The server's copy of the benchmark's model input (manifest.json + images/); refuses benchmarks without one."""
    if not benchmark.images_path:
        raise BaselineError(
            f"Benchmark '{benchmark.slug}' has no held-out images on this server (predictions files only), so a "
            "model cannot be run on it. Import its images with `import_benchmark --images` first."
        )
    try:
        folder = local_folder(GROUND_TRUTH, benchmark.images_path)  # this host's copy when the store is remote
        manifest = folder / "manifest.json"
        data = json.loads(manifest.read_text())
    except FileNotFoundError:
        raise BaselineError(f"Benchmark '{benchmark.slug}': its held-out images are no longer stored.") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise BaselineError(f"Benchmark '{benchmark.slug}': cannot read its image manifest {manifest} ({exc}).") from None
    if isinstance(data, dict) and data.get("gt"):
        # reference_models' manifest loader would attach that file: the model run must never see GT
        raise BaselineError(f"{manifest} names a ground-truth file ('gt'); the model input folder must not.")
    return folder


def _benchmark(slug: str) -> Benchmark:
    benchmark = Benchmark.objects.filter(slug=slug).first()
    if benchmark is None:
        raise BaselineError(f"No benchmark with slug '{slug}'.")
    return benchmark


def host_benchmark_targets(slugs: list[str] | None = None) -> list:
    """``reference_models.evaluate`` targets for this host's benchmarks with held-out images (all, or ``slugs``),
    each with its own protocol, options and primary metric, as the workers score them."""
    from reference_models.evaluate import BenchmarkTarget

    benchmarks = list(Benchmark.objects.exclude(images_path="")) if slugs is None else []
    benchmarks += [_benchmark(slug) for slug in slugs or ()]
    targets = []
    for benchmark in benchmarks:
        try:
            gt = local_path(GROUND_TRUTH, benchmark.gt_path)
        except FileNotFoundError:
            raise BaselineError(f"Benchmark '{benchmark.slug}': its ground truth is no longer stored.") from None
        targets.append(BenchmarkTarget(benchmark.slug, held_out_images_dir(benchmark), gt, benchmark.protocol,
                                       dict(benchmark.protocol_options), benchmark.primary_metric))
    return targets


@dataclass(frozen=True)
class LoadedModel:
    model: object  # torch.nn.Module
    arch: str
    size: str
    sha256: str
    config: dict | None = None  # the training config stored in one of our checkpoints


def load_reference_model(checkpoint: Path, arch: str | None = None, size: str | None = None) -> LoadedModel:
    """One of our checkpoints (arch/size read from it; given ones must agree), or official weights with arch+size.

    Official weights must fill every parameter: a half-loaded model would be a misleading baseline.
    """
    from reference_models.checkpoint import CheckpointMismatch, load_checkpoint, load_official_checkpoint
    from reference_models.models import build_model

    if not checkpoint.is_file():
        raise BaselineError(f"Checkpoint {checkpoint} does not exist.")
    digest = file_sha256(checkpoint)
    try:
        model, ckpt = load_checkpoint(checkpoint)
    except CheckpointMismatch as exc:
        raise BaselineError(str(exc)) from None
    except ValueError as exc:  # not our format: official weights need the architecture named
        if not (arch and size):
            raise BaselineError(f"{exc}; for official weights pass --arch and --size.") from None
        model = build_model(arch, size)
        try:
            load_official_checkpoint(model, checkpoint)
        except CheckpointMismatch as mismatch:
            raise BaselineError(f"{checkpoint} does not fit {arch}-{size}: {mismatch.report.describe()}") from None
        return LoadedModel(model, arch, size, digest)
    for given, stored, name in ((arch, ckpt["arch"], "arch"), (size, ckpt["size"], "size")):
        if given and given != stored:
            raise BaselineError(f"{checkpoint} holds a {stored!r} model but --{name} {given!r} was given.")
    return LoadedModel(model, ckpt["arch"], ckpt["size"], digest, ckpt.get("config"))


def provenance(loaded: LoadedModel, extra: Mapping | None = None) -> dict:
    """What produced a computed row beyond its structured fields (``Submission.checkpoint_sha256``, ``code_url``,
    ``code_commit``; each BenchmarkResult's protocol and evaluator versions): arch, size, the training config stored in
    the checkpoint, the evaluator version it was run with, and ``extra`` (e.g. the scaling run it came from)."""
    from evaluator import __version__ as evaluator_version

    return {"arch": loaded.arch, "size": loaded.size, "config": loaded.config or "official weights",
            "evaluator_version": evaluator_version, **(extra or {})}


def measured_figures(loaded: LoadedModel, device: str, timings: list[float]) -> dict:
    """ms/image (median of ``predict``'s per-batch timings after its warm-up), peak memory, device, parameters
    (``reference_models.params``: the architecture's count, as built)."""
    import resource
    import statistics

    import torch

    from reference_models.params import count_parameters

    cuda = str(device).startswith("cuda")
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda  # else this process's resident-set peak (KiB on Linux)
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"ms_per_image": statistics.median(timings) if timings else None, "peak_memory_mb": peak,
            "device": torch.cuda.get_device_name(device)[:80] if cuda else "cpu",
            "params": count_parameters(loaded.arch, loaded.size)}


def _predictions_file(folder: Path, predictions: dict[str, dict[str, np.ndarray]]) -> Path:
    """One ``<slug>.npz``, or a ``.zip`` of them for several benchmarks (the upload formats users have)."""
    for slug, arrays in predictions.items():
        np.savez(folder / f"{slug}.npz", **arrays)
    if len(predictions) == 1:
        return folder / f"{next(iter(predictions))}.npz"
    bundle = folder / "predictions.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        for slug in predictions:
            archive.write(folder / f"{slug}.npz", f"{slug}.npz")
    return bundle


def store_computed_row(owner, benchmarks: Sequence[Benchmark], predictions: Mapping[str, Mapping[str, np.ndarray]],
                       **fields) -> Submission:
    """A computed row the server made itself (staff work, no user upload): a public 'computed' predictions
    submission on ``benchmarks`` whose per-benchmark predictions (slug -> arrays) are stored where a model run's
    go (``predictions_name``) and scored by the workers once committed. Unlike ``create_submission`` it takes
    models-only benchmarks (they refuse predictions *uploads*, not the server's own model runs) and no quota.
    Used by ``submit_reference_model`` there and by the demo's reference row; ``fields``: Submission fields."""
    from leaderboard.benchmarks.phases import open_phase
    from leaderboard.storage import PRIVATE, put_file
    from leaderboard.submissions.actions import _dispatch

    now = timezone.now()
    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        submission = Submission.objects.create(
            owner=owner, kind=SubmissionKind.PREDICTIONS, baseline_source=BaselineSource.COMPUTED, is_public=True,
            heartbeat_at=now, **fields)  # heartbeat: the sweeper's clock if the broker is down
        submission.benchmarks.set(benchmarks)
        # listed on each benchmark's open phase board, as an upload is; a closed phase does not stop a staff row
        submission.phases.set([p for b in benchmarks if (p := open_phase(b.phases.all(), now)) is not None])
        for benchmark in benchmarks:
            path = Path(tmp) / f"{benchmark.slug}.npz"
            np.savez(path, **predictions[benchmark.slug])
            put_file(PRIVATE, submission.predictions_name(benchmark.slug), path)
        transaction.on_commit(lambda: _dispatch(submission))  # a broker outage leaves it to the sweeper
    return submission


def submit_reference_model(checkpoint: Path, benchmark_slugs: str | Sequence[str], *, arch: str | None = None,
                           size: str | None = None, method_name: str | None = None, citation: str | None = None,
                           owner=None, batch_size: int = 16, device: str = "cpu", progress: bool = False,
                           extra_provenance: Mapping | None = None) -> Submission:
    """Run the model on the benchmarks' held-out images (``reference_models.evaluate.run_model``: the input each
    protocol gives models, so a whole-image benchmark goes through the detector stage) and submit the predictions.

    Where every benchmark takes predictions files they go in like any user's upload (one submission: a ``.npz`` for
    one benchmark, a ``.zip`` of them for several: validation, quotas); a models-only benchmark refuses uploaded
    predictions, so there the row is stored as the server's own run (``store_computed_row``).
    The submission is flagged ``computed`` and public, with its provenance (checkpoint sha256, code URL and commit,
    ``provenance()``) and its measured speed and size per benchmark, in the same transaction that creates it, so
    the pipeline (started on commit) never sees it unflagged. Raises BaselineError, UploadError or QuotaExceeded.
    """
    from django.conf import settings

    from reference_models.evaluate import run_model
    from reference_models.test import code_commit, code_url

    slugs = [benchmark_slugs] if isinstance(benchmark_slugs, str) else list(benchmark_slugs)
    benchmarks = [_benchmark(slug) for slug in slugs]
    folders = {b.slug: held_out_images_dir(b) for b in benchmarks}
    loaded = load_reference_model(Path(checkpoint), arch, size)
    predictions, figures = {}, {}
    for benchmark in benchmarks:
        timings: list[float] = []
        predictions[benchmark.slug] = run_model(loaded.model, folders[benchmark.slug], benchmark.get_protocol(),
                                                settings.SMPLX_MODEL_DIR, batch_size=batch_size, device=device,
                                                progress=progress, timings=timings)
        figures[benchmark.slug] = measured_figures(loaded, device, timings)
    label = f"{ARCH_LABELS.get(loaded.arch, loaded.arch)}-{loaded.size}"
    metadata = {
        "method_name": method_name or f"{label} (reference, {loaded.sha256[:8]})",
        "description": (f"Reference model {label} run by the server on the held-out images of "
                        f"{', '.join(repr(s) for s in slugs)} (manage.py submit_reference_model). "
                        f"Checkpoint sha256 {loaded.sha256}."),
        "code_url": code_url(),
    }
    owner = owner or system_user()
    flags = {"citation": (citation or ARCH_CITATIONS.get(loaded.arch, ""))[:300], "checkpoint_sha256": loaded.sha256,
             "code_commit": code_commit()[:40], "provenance": provenance(loaded, extra_provenance)}
    with tempfile.TemporaryDirectory() as tmp, transaction.atomic():
        if all(b.accepts_predictions for b in benchmarks):
            path = _predictions_file(Path(tmp), predictions)
            with open(path, "rb") as handle:
                submission = create_submission(owner, File(handle, name=path.name), SubmissionKind.PREDICTIONS,
                                               slugs, metadata)
            Submission.objects.filter(pk=submission.pk).update(
                baseline_source=BaselineSource.COMPUTED, is_public=True, **flags)
        else:
            submission = store_computed_row(owner, benchmarks, predictions, **metadata, **flags)
        for benchmark in benchmarks:
            store_efficiency(submission, [benchmark], figures[benchmark.slug], EfficiencySource.MEASURED)
    submission.refresh_from_db()
    return submission
