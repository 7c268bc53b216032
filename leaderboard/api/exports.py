"""Leaderboard payloads shared by the JSON API, the CSV export and the web pages' download links."""
from __future__ import annotations

import csv
import io

from django.http import HttpResponse

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.leaderboard import BenchmarkRow, OverallRow, benchmark_leaderboard, overall_leaderboard


def _submission_fields(submission) -> dict:
    return {
        "id": str(submission.uuid),
        "method_name": submission.method_name,
        "owner": submission.owner.username,
        "team": submission.team.name if submission.team else None,
        "baseline": submission.baseline_source or None,
        "citation": submission.citation,
        "paper_url": submission.paper_url,
        "code_url": submission.code_url,
        "submitted_at": submission.created_at.isoformat(),
    }


def overall_payload() -> dict:
    benchmarks = list(Benchmark.objects.filter(is_active=True))
    rows: list[OverallRow] = overall_leaderboard(benchmarks)
    return {
        "benchmarks": [
            {"slug": b.slug, "name": b.name, "primary_metric": b.primary_metric,
             "counts_toward_mpe": b.counts_toward_mpe, "counts_toward_hand_mpe": b.counts_toward_hand_mpe}
            for b in benchmarks
        ],
        "rows": [
            {"rank": r.rank, **_submission_fields(r.submission), "mpe": r.mpe, "hand_mpe": r.hand_mpe,
             "pa_hand_mpe": r.pa_hand_mpe, "primary": {b.slug: r.primary.get(b.slug) for b in benchmarks}}
            for r in rows
        ],
    }


def benchmark_payload(benchmark: Benchmark, split: Split | None, sort: str | None, direction: str) -> dict:
    from evaluator.metric_names import METRICS

    rows, sort, direction = benchmark_leaderboard(benchmark, split, sort, direction)
    return {
        "benchmark": {"slug": benchmark.slug, "name": benchmark.name, "primary_metric": benchmark.primary_metric},
        "split": split.name if split else None,
        "sort": sort,
        "direction": direction,
        "metrics": list(METRICS),
        "rows": [
            {"rank": r.rank, **_submission_fields(r.submission), "num_samples": r.num_samples, "metrics": r.metrics}
            for r in rows
        ],
    }


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def csv_response(filename: str, header: list[str], lines: list[list]) -> HttpResponse:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for line in lines:
        writer.writerow([_csv_value(v) for v in line])
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def overall_csv() -> HttpResponse:
    payload = overall_payload()
    slugs = [b["slug"] for b in payload["benchmarks"]]
    header = ["rank", "method", "owner", "team", "baseline", "mpe", "hand_mpe", "pa_hand_mpe", *slugs, "submitted_at", "id"]
    lines = [
        [r["rank"], r["method_name"], r["owner"], r["team"] or "", r["baseline"] or "", r["mpe"], r["hand_mpe"], r["pa_hand_mpe"],
         *[r["primary"][s] for s in slugs], r["submitted_at"], r["id"]]
        for r in payload["rows"]
    ]
    return csv_response("leaderboard-overall.csv", header, lines)


def benchmark_csv(benchmark: Benchmark, split: Split | None, sort: str | None, direction: str) -> HttpResponse:
    payload = benchmark_payload(benchmark, split, sort, direction)
    metrics = payload["metrics"]
    header = ["rank", "method", "owner", "team", "baseline", *metrics, "num_samples", "submitted_at", "id"]
    lines = [
        [r["rank"], r["method_name"], r["owner"], r["team"] or "", r["baseline"] or "", *[r["metrics"][m] for m in metrics],
         r["num_samples"], r["submitted_at"], r["id"]]
        for r in payload["rows"]
    ]
    split_name = payload["split"] or "none"
    return csv_response(f"leaderboard-{benchmark.slug}-{split_name}.csv", header, lines)
