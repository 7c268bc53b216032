"""Staff host pages: create or update a benchmark from a ground-truth bundle, and watch the import run.

The form (``host_forms``) becomes a ``BenchmarkImport`` row and one task on a worker (``workers.imports``), which
runs the code ``manage.py import_benchmark`` runs. The import page polls ``status.json`` for progress and shows
the full report when it ends. Non-staff users get 403 on every page here (anonymous visitors: the log-in page).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache

from leaderboard.benchmarks import bundles
from leaderboard.benchmarks.models import Benchmark, BenchmarkImport
from leaderboard.upload_guard import accepts_uploads
from leaderboard.web.host_forms import BenchmarkImportForm

log = logging.getLogger(__name__)
RECENT_IMPORTS = 10


def staff_only(view: Callable) -> Callable:
    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not request.user.is_staff:
            raise PermissionDenied("Benchmark imports are for staff.")
        return view(request, *args, **kwargs)
    return wrapped


def _enqueue(job: BenchmarkImport) -> None:
    from workers.imports import run_benchmark_import

    try:
        run_benchmark_import.delay(job.pk)
    except Exception as exc:  # broker unreachable: say so on the page; nothing was changed
        log.warning("could not queue benchmark import %s: %s", job.pk, exc)
        BenchmarkImport.objects.filter(pk=job.pk).update(
            state=BenchmarkImport.State.FAILED, error=f"The import could not be queued ({type(exc).__name__}); nothing "
                                                      "was changed. Try again when the workers' broker answers.")


@never_cache
@staff_only
@accepts_uploads
def host_import(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        form = BenchmarkImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                uploaded = form.cleaned_data["bundle"]
                name = bundles.stage_upload(uploaded) if uploaded else form.cleaned_data["stored_name"]
            except bundles.BundleError as exc:
                form.add_error("bundle", str(exc))
            else:
                wanted = form.import_request()
                job = BenchmarkImport.objects.create(
                    created_by=request.user, slug=wanted.slug, options=wanted.options_json(), bundle_name=name,
                    bundle_uploaded=bool(uploaded), source_path=form.cleaned_data["source_path"].strip())
                transaction.on_commit(lambda: _enqueue(job))
                return redirect("host-import-detail", pk=job.pk)
        status = 400
    else:
        benchmark = Benchmark.objects.filter(slug=request.GET.get("slug", "")).first()
        form = BenchmarkImportForm.for_benchmark(benchmark) if benchmark else BenchmarkImportForm()
    return render(request, "web/host_import.html", {
        "form": form, "benchmarks": Benchmark.objects.all(),
        "recent": BenchmarkImport.objects.select_related("created_by")[:RECENT_IMPORTS],
    }, status=status)


def _status(job: BenchmarkImport) -> dict:
    return {"state": job.state, "is_final": job.is_final, "progress_percent": round(100 * job.progress),
            "stage": job.stage, "report": job.report, "error": job.error}


@never_cache
@staff_only
def host_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(BenchmarkImport.objects.select_related("created_by"), pk=pk)
    benchmark = Benchmark.objects.filter(slug=job.slug).first() if job.state == BenchmarkImport.State.SUCCEEDED else None
    return render(request, "web/host_import_detail.html", {
        "job": job, "status": _status(job), "benchmark": benchmark,
        "hidden_splits": benchmark.splits.filter(is_revealed=False) if benchmark else [],
        "moves": (job.changes or {}).get("moves", []), "notes": (job.changes or {}).get("notes", []),
    })


@never_cache
@staff_only
def host_import_status(request: HttpRequest, pk: int) -> JsonResponse:
    return JsonResponse(_status(get_object_or_404(BenchmarkImport, pk=pk)))
