"""Server-rendered pages: leaderboards, benchmark pages, submit form, submission pages."""
from __future__ import annotations

import json
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from leaderboard.api.serializers import StatusSerializer, SubmissionSerializer
from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import PRIVATE, open_file
from leaderboard.upload_guard import accepts_uploads
from leaderboard.submissions.actions import cancel_submission, create_submission, queue_message, set_published, was_queued
from leaderboard.submissions.board_cache import current_version
from leaderboard.submissions.leaderboard import benchmark_board, display_split, overall_board
from leaderboard.submissions.models import InvalidTransition, Submission
from leaderboard.submissions.scores import submission_coverage
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.signals import on_board
from leaderboard.submissions.uploads import UploadError, check_request_size, format_size
from leaderboard.submissions.visibility import (can_manage, can_see_log, mask_hidden_scores, owned_submissions,
                                                phase_hidden_benchmarks, revealed_splits, visible_results,
                                                visible_submissions)
from leaderboard.web.charts import result_chart_html
from leaderboard.web.failures import add_worst_thumbnails
from leaderboard.web.boards import active_benchmarks, cached_benchmark, row_link, submission_position
from leaderboard.submissions.efficiency import REPORTED_FIELDS
from leaderboard.web.forms import SubmitForm
from leaderboard.web.leaderboard_views import metric_columns


FORM_FIELD_OF = {"benchmark": "benchmarks"}  # an UploadError's field (named as in the API) on the submit form


@accepts_uploads
@login_required
def submit(request: HttpRequest) -> HttpResponse:
    error_status = 200
    if request.method == "POST":
        try:
            check_request_size(request.META)
            form = SubmitForm(request.POST, request.FILES, user=request.user)
        except UploadError as exc:  # the body was not read: show an empty form with the reason
            context = {"form": SubmitForm(user=request.user), "page_error": str(exc), "max_upload": format_size_setting()}
            return render(request, "web/submit.html", context, status=exc.status_code)
        if form.is_valid():
            data = form.cleaned_data
            try:
                submission = create_submission(
                    request.user, data["file"], data["kind"], [b.slug for b in data["benchmarks"]],
                    {k: data[k] for k in ("method_name", "description", "paper_url", "code_url", *REPORTED_FIELDS)},
                    team=data["team"],
                )
            except UploadError as exc:
                field = FORM_FIELD_OF.get(exc.field, exc.field)  # the API's name -> the form's
                form.add_error(field if field in form.fields and field != "file" else "file", str(exc))
                error_status = exc.status_code
            except QuotaExceeded as exc:
                form.add_error(None, str(exc))
                error_status = 429
            else:
                (messages.success if was_queued(submission) else messages.warning)(request, queue_message(submission))
                return redirect(submission)
        else:
            error_status = 400
    else:
        form = SubmitForm(
            initial={"benchmarks": [request.GET["benchmark"]] if request.GET.get("benchmark") else []}, user=request.user
        )
    return render(request, "web/submit.html", {"form": form, "max_upload": format_size_setting()}, status=error_status)


def format_size_setting() -> str:
    from django.conf import settings

    return format_size(settings.MAX_UPLOAD_BYTES)


def _visible_submission(request: HttpRequest, uuid) -> Submission:
    return get_object_or_404(visible_submissions(request.user), uuid=uuid)


def submission_detail(request: HttpRequest, uuid) -> HttpResponse:
    submission = _visible_submission(request, uuid)
    scores_hidden = mask_hidden_scores(request.user, submission)
    results = list(visible_results(request.user, submission.results.select_related("benchmark")))
    for result in results:
        result.chart = result_chart_html(result.metrics, f"{result.benchmark.name} ({result.split})")
        result.rows = [{**c, "value": result.metrics.get(c["key"])} for c in metric_columns(result.benchmark)]
        add_protocol_views(result, submission.method_name)
    add_worst_thumbnails(submission, results)
    return render(request, "web/submission.html", {
        "submission": submission, "results": results, "can_manage": can_manage(request.user, submission),
        "board_links": board_links(submission, results),
        "show_log": can_see_log(request.user, submission) and bool(submission.log),
        "benchmarks": submission.benchmarks.all(),
        "mpe_coverage": submission_coverage(submission).label,
        "per_sample_benchmarks": per_sample_benchmarks(request.user, submission),
        "scores_hidden": scores_hidden,
    })


def add_protocol_views(result, method_name: str) -> None:
    """What a protocol adds to a (visible) result's panel: subset rows (agora-multiperson: all people, kids) and
    breakdown plots; and whether per-sample values exist for the failures page."""
    from leaderboard.web.breakdown_charts import breakdown_charts_html

    try:
        protocol = result.benchmark.get_protocol()
    except ValueError:  # a protocol this evaluator no longer knows: the plain table only
        result.subsets, result.breakdowns, result.per_sample = [], "", False
        return
    labels = result.benchmark.metric_labels()
    rows = protocol.subsets(result.metrics)
    result.subset_columns = [{"key": k, "label": labels[k].label if k in labels else SUBSET_LABELS.get(k, k),
                              "rate": k in labels and labels[k].unit == "", "count": k in SUBSET_LABELS}
                             for k in (rows[0][1] if rows else ()) if not k.endswith("_raw")]
    # each cell: the figure as the official server prints it and, beside it, the unrounded one (issue 19)
    result.subsets = [{"label": label, "cells": [{**column, "value": values.get(column["key"]),
                                                  "raw": values.get(f"{column['key']}_raw")}
                                                 for column in result.subset_columns]} for label, values in rows]
    result.breakdowns = breakdown_charts_html(protocol, [(method_name, result.metrics)])
    result.per_sample = protocol.per_sample_rows


SUBSET_LABELS = {"true_positives": "Matched", "misses": "Missed"}


def board_links(submission: Submission, results) -> list[dict]:
    """Where a listed submission's rows are: the overall board and each benchmark's ranking split.

    A submission that is not its entrant's best is found on the "all submissions" view instead.
    """
    if not on_board(submission):
        return []
    version = current_version()
    benchmarks = active_benchmarks(version)
    boards = [("Overall", "", overall_board(benchmarks), overall_board(benchmarks, best_only=False))]
    for result in results:
        found = cached_benchmark(version, result.benchmark.slug)
        split = display_split(result.benchmark, None, None, found[1] if found else None)
        if split is not None and split.name == result.split:
            boards.append((result.benchmark.name, result.benchmark.get_absolute_url(),
                           benchmark_board(result.benchmark, split), benchmark_board(result.benchmark, split, best_only=False)))
    links = []
    for label, path, best, every in boards:
        for board in (best, every):
            position = submission_position(version, board, submission.pk)
            if position is not None:
                links.append({"label": label, "href": row_link(board, position, path or "/"), "rank": position.rank,
                              "best": board.best_only})
                break
    return links


def per_sample_benchmarks(user, submission: Submission) -> list[Benchmark]:
    """Benchmarks whose per-sample errors the user may download here: owner/staff, finished, a revealed split, not a
    model run (``serves_per_sample``: those report aggregates only)."""
    from leaderboard.submissions.per_sample import serves_per_sample

    if not can_manage(user, submission) or submission.status != "finished" or submission.is_baseline:
        return []
    benchmarks = submission.benchmarks.filter(pk__in=revealed_splits().values("benchmark_id"))
    hidden = phase_hidden_benchmarks(submission)
    return [b for b in benchmarks if serves_per_sample(submission, b) and b.pk not in hidden]


def submission_status(request: HttpRequest, uuid) -> JsonResponse:
    return JsonResponse(StatusSerializer(_visible_submission(request, uuid)).data)


def submission_results(request: HttpRequest, uuid) -> HttpResponse:
    submission = _visible_submission(request, uuid)
    data = SubmissionSerializer(submission, context={"request": request}).data
    response = HttpResponse(json.dumps(data, indent=2, default=str), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="results-{submission.uuid}.json"'
    return response


@login_required
def submission_upload(request: HttpRequest, uuid) -> FileResponse:
    """The owner's own uploaded file (never anyone else's; staff may fetch any for checks)."""
    submission = get_object_or_404(owned_submissions(request.user), uuid=uuid)
    if not submission.upload.name:
        raise Http404("No file was stored for this submission.")
    try:
        stored = open_file(PRIVATE, submission.upload.name)
    except FileNotFoundError:
        raise Http404("The uploaded file is no longer stored.") from None
    return FileResponse(stored, as_attachment=True, filename=PurePosixPath(submission.upload.name).name)


@login_required
def submission_per_sample(request: HttpRequest, uuid, slug: str, fmt: str) -> HttpResponse:
    """The owner's per-sample errors on one benchmark (CSV or npz), revealed splits only (never hidden ones)."""
    from leaderboard.submissions.per_sample import PerSampleUnavailable, download_response

    submission = get_object_or_404(owned_submissions(request.user), uuid=uuid)
    benchmark = get_object_or_404(submission.benchmarks, slug=slug)
    try:
        return download_response(submission, benchmark, fmt)
    except PerSampleUnavailable as exc:
        raise Http404(str(exc)) from None


def _managed(request: HttpRequest, uuid) -> Submission:
    return get_object_or_404(owned_submissions(request.user), uuid=uuid)


@login_required
@require_POST
def submission_cancel(request: HttpRequest, uuid) -> HttpResponse:
    submission = _managed(request, uuid)
    try:
        cancel_submission(submission)
        messages.success(request, "Submission cancelled.")
    except InvalidTransition:
        messages.error(request, f"The submission is already {submission.get_status_display().lower()}; it cannot be cancelled.")
    return redirect(submission)


@login_required
@require_POST
def submission_publish(request: HttpRequest, uuid, publish: bool) -> HttpResponse:
    submission = _managed(request, uuid)
    try:
        set_published(submission, publish)
        messages.success(request, "Published on the leaderboard." if publish else "Removed from the public leaderboard.")
    except InvalidTransition as exc:
        messages.error(request, str(exc))
    return redirect(submission)


@login_required
def my_submissions(request: HttpRequest) -> HttpResponse:
    """The user's submissions, newest first, 50 a page (the model log and eval plan are not loaded)."""
    submissions = (Submission.objects.filter(owner=request.user).defer("log", "eval_plan", "description")
                   .prefetch_related("benchmarks", "phases"))
    page = Paginator(submissions, settings.LEADERBOARD_PAGE_SIZE).get_page(request.GET.get("page"))
    for submission in page:
        mask_hidden_scores(request.user, submission)
    return render(request, "web/my_submissions.html", {"submissions": page, "page": page})


def about_api(request: HttpRequest) -> HttpResponse:
    return render(request, "web/api.html", {})
