"""The benchmark import the staff page starts: one task on the validate queue (workers there hold the GT keys).

It runs ``leaderboard.benchmarks.importing.run_import``, the code ``manage.py import_benchmark`` runs, and
writes its progress and report lines to the ``BenchmarkImport`` row the page polls. The benchmark changes only
if the import succeeds (``run_import`` is all-or-nothing); an uploaded bundle is removed when it ends.
"""
from __future__ import annotations

import logging
import tempfile
from datetime import timedelta
from pathlib import Path

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat
from django.utils import timezone

from leaderboard.benchmarks.models import BenchmarkImport

log = logging.getLogger(__name__)
State = BenchmarkImport.State


class RowReporter:
    """``importing.Reporter`` writing to the import's row: each line appended, each stage as progress."""

    def __init__(self, import_id: int) -> None:
        self.rows = BenchmarkImport.objects.filter(pk=import_id)

    def line(self, text: str, style: str = "") -> None:
        self.rows.update(report=Concat(F("report"), Value(text + "\n")))

    def stage(self, fraction: float, what: str) -> None:
        self.rows.update(progress=fraction, stage=what[:200])


def _run(job: BenchmarkImport, reporter: RowReporter) -> dict:
    from leaderboard.benchmarks import bundles
    from leaderboard.benchmarks.importing import ImportRequest, run_import

    with tempfile.TemporaryDirectory(prefix="ehps-import-job-") as tmp:
        reporter.stage(0.02, "unpacking the bundle")
        source, root = bundles.unpack(job.bundle_name, job.source_path, Path(tmp))
        options = dict(job.options)
        options["format_options"] = bundles.resolved_options(options.get("format_options") or {}, root)
        outcome = run_import(ImportRequest(**options, source=source), reporter)
    return outcome.changes.to_json()


@shared_task(time_limit=settings.BENCHMARK_IMPORT_TIME_LIMIT_S)
def run_benchmark_import(import_id: int) -> dict:
    """Run import ``import_id`` once; its row ends ``succeeded`` (with the report) or ``failed`` (with the error)."""
    from leaderboard.benchmarks import bundles
    from leaderboard.benchmarks.importing import ImportFailed

    with transaction.atomic():  # the slug's import rows locked: two imports of one benchmark never overlap
        job = BenchmarkImport.objects.select_for_update().filter(pk=import_id).first()
        if job is None or job.is_final:
            return {"skipped": "final" if job else "deleted"}
        busy = _running_import_of(job)
        if busy is None:
            # A re-delivered task (its worker died) starts the report again: the earlier run changed nothing.
            BenchmarkImport.objects.filter(pk=import_id).update(state=State.RUNNING, report="", progress=0.0,
                                                                stage="starting")
    if busy is not None:
        return _finish(job, State.FAILED, error=f"Import #{busy.pk} of {job.slug} is running; start this one again "
                                                "when it has ended. Nothing was changed.")
    reporter = RowReporter(import_id)
    try:
        changes = _run(job, reporter)
    except (ImportFailed, bundles.BundleError) as exc:
        return _finish(job, State.FAILED, error=str(exc))
    except Exception as exc:  # a server problem: logged in full, said in one line
        log.exception("benchmark import %s failed", import_id)
        return _finish(job, State.FAILED, error=f"The import failed on the server ({type(exc).__name__}: {exc}); "
                                                "nothing was changed. The worker log has the details.")
    return _finish(job, State.SUCCEEDED, changes=changes)


def _running_import_of(job: BenchmarkImport) -> BenchmarkImport | None:
    """Another import of the same benchmark still running (rows older than the task's time limit are dead)."""
    recent = timezone.now() - timedelta(seconds=settings.BENCHMARK_IMPORT_TIME_LIMIT_S)
    others = BenchmarkImport.objects.select_for_update().filter(slug=job.slug).exclude(pk=job.pk)
    return next((o for o in others if o.state == State.RUNNING and o.created_at > recent), None)


def _finish(job: BenchmarkImport, state: str, **fields) -> dict:
    from leaderboard.benchmarks import bundles

    if job.bundle_uploaded:
        bundles.discard(job.bundle_name)
    BenchmarkImport.objects.filter(pk=job.pk).update(state=state, finished_at=timezone.now(), **fields,
                                                     **({"progress": 1.0, "stage": "done"} if state == State.SUCCEEDED else {}))
    return {"import": job.pk, "state": state}
