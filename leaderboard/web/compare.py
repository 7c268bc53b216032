"""The per-method page (a method's submissions, grouped by who submitted them) and the compare view (2-4
submissions side by side on each benchmark, per body part: a table and a grouped bar chart)."""
from __future__ import annotations

import uuid as uuid_lib
from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import render

from evaluator.metric_names import METRIC_LABELS
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions import board_cache
from leaderboard.submissions.leaderboard import Row, leaderboard_submissions, method_rows
from leaderboard.submissions.models import BenchmarkResult
from leaderboard.web.boards import active_benchmarks
from leaderboard.web.charts import PART_TITLES, compare_chart_html

MIN_COMPARED, MAX_COMPARED = 2, 4


def method_detail(request: HttpRequest, name: str) -> HttpResponse:
    version = board_cache.current_version()
    rows: list[Row] | None = board_cache.peek(version, f"method:{name}")
    if rows is None:
        rows = method_rows(name)
        if not rows:  # only real methods are kept: any name can be asked for (issue 24, Medium 3)
            raise Http404("No published submission has this method name.")
        board_cache.store(version, f"method:{name}", rows)
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.entrant, []).append(row)
    return render(request, "web/method.html", {
        "name": name, "groups": groups, "count": len(rows), "benchmarks": active_benchmarks(version),
        "max_compared": MAX_COMPARED,
    })


@dataclass
class MetricLine:
    key: str
    label: str
    values: list[float | None]
    best: int | None  # index of the lowest value


def _chosen(request: HttpRequest) -> list[str]:
    wanted = list(dict.fromkeys(request.GET.getlist("s")))  # order kept, duplicates dropped
    if not MIN_COMPARED <= len(wanted) <= MAX_COMPARED:
        raise ValueError(f"Choose {MIN_COMPARED} to {MAX_COMPARED} submissions to compare (?s=<id>&s=<id>); got {len(wanted)}.")
    for value in wanted:
        try:
            uuid_lib.UUID(value)
        except ValueError:
            raise ValueError(f"{value[:40]!r} is not a submission id.") from None
    return wanted


def compare(request: HttpRequest) -> HttpResponse:
    """Only listed (published or baseline) submissions, on each benchmark's revealed ranking split."""
    try:
        wanted = _chosen(request)
    except ValueError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    found = {str(s.uuid): s for s in leaderboard_submissions().filter(uuid__in=wanted).select_related("owner", "team")
             .only("uuid", "method_name", "owner__username", "team__name", "citation", "mpe", "hand_mpe", "pa_hand_mpe")}
    missing = [w for w in wanted if w not in found]
    if missing:
        raise Http404("Not found (or not published): " + ", ".join(missing))
    submissions = [found[w] for w in wanted]
    benchmarks = list(Benchmark.objects.filter(is_active=True).prefetch_related("splits"))
    ranking = {b.pk: next((s.name for s in b.splits.all() if s.is_ranking and s.is_revealed), None) for b in benchmarks}
    results: dict[tuple[int, int], dict] = {}
    for r in BenchmarkResult.objects.filter(submission__in=submissions, benchmark__in=benchmarks).only(
            "submission_id", "benchmark_id", "split", "metrics"):
        if r.split == ranking.get(r.benchmark_id):
            results[r.submission_id, r.benchmark_id] = r.metrics or {}
    labels = [s.method_name for s in submissions]
    sections = []
    for benchmark in benchmarks:
        per_method = [results.get((s.pk, benchmark.pk), {}) for s in submissions]
        if not any(per_method):
            continue
        parts: dict[str, list[MetricLine]] = {}
        for key, meta in METRIC_LABELS.items():
            values = [_number(m.get(key)) for m in per_method]
            if all(v is None for v in values):
                continue
            present = [(v, i) for i, v in enumerate(values) if v is not None]
            best = min(present)[1] if len(present) > 1 else None
            parts.setdefault(PART_TITLES.get(meta.part, meta.part), []).append(MetricLine(key, meta.label, values, best))
        sections.append({
            "benchmark": benchmark, "split": ranking[benchmark.pk], "parts": parts,
            "chart": compare_chart_html(labels, per_method, f"{benchmark.name}: errors per body part (mm)"),
        })
    overall = [MetricLine(k, label, [_number(getattr(s, k)) for s in submissions], None)
               for k, label in (("mpe", "MPE"), ("hand_mpe", "Hand MPE"), ("pa_hand_mpe", "Hand PA-MPE"))]
    for line in overall:
        present = [(v, i) for i, v in enumerate(line.values) if v is not None]
        line.best = min(present)[1] if len(present) > 1 else None
    return render(request, "web/compare.html", {"submissions": submissions, "sections": sections, "overall": overall})


def _number(value) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None
