"""Where does my method fail (issue 22 §4): the worst samples by the primary metric and each part's error histogram.

Read only through ``per_sample.revealed_per_sample``, the one reader of the workers' per-sample files: revealed splits
only, and nothing for a model run on held-out images (aggregates only). Shown to whoever may see the submission (its
owner, and everyone once it is published). The histograms are server-side SVG, the same bytes for the same values.
The pictures of the worst samples are the workers' (leaderboard.submissions.failure_renders), served one by one
under the same rules plus that module's own (GT only on public-GT splits).
"""
from __future__ import annotations

from html import escape

import numpy as np
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from evaluator.metric_names import METRIC_LABELS
from evaluator.render_scale import SCALE_MM
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.failure_renders import WORST, served_png, served_renders, worst_samples
from leaderboard.submissions.models import Status, SubmissionKind
from leaderboard.submissions.per_sample import PerSampleUnavailable, revealed_per_sample
from leaderboard.submissions.visibility import visible_submissions

BINS = 24
# One plain (non-Procrustes) error per part, in display order: the distributions worth a glance.
PART_METRICS = ("mpvpe_all", "mpjpe_body", "mpvpe_hand", "mpvpe_face")
W, H, LEFT, BOTTOM, TOP = 360, 150, 34, 30, 18


def histogram_svg(values: np.ndarray, label: str) -> str:
    """Counts of per-sample errors in ``BINS`` equal bins from 0 to the largest value; median and 90th percentile
    marked. Empty string when no sample has a value."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    if not finite.size:
        return ""
    top = float(finite.max()) or 1.0
    counts, edges = np.histogram(finite, bins=BINS, range=(0.0, top))
    plot_w, plot_h = W - LEFT - 8, H - TOP - BOTTOM
    step, peak = plot_w / BINS, int(counts.max())
    median, p90 = (float(v) for v in np.percentile(finite, [50, 90]))
    out = [f'<svg class="chart histogram" viewBox="0 0 {W} {H}" width="{W}" height="{H}" role="img" '
           f'aria-label="{escape(label)}: distribution of {finite.size} per-sample errors" xmlns="http://www.w3.org/2000/svg">',
           f'<text x="{LEFT}" y="12" class="group">{escape(label)}</text>'
           f'<text x="{W - 8}" y="12" class="tick" text-anchor="end">dashed: median {median:.1f}, 90 % {p90:.1f} mm</text>']
    for i, count in enumerate(counts):
        h = plot_h * int(count) / peak
        out.append(f'<rect x="{LEFT + i * step:.1f}" y="{TOP + plot_h - h:.1f}" width="{step - 1:.1f}" height="{h:.1f}" '
                   f'class="bar"><title>{edges[i]:.1f}-{edges[i + 1]:.1f} mm: {int(count)} samples</title></rect>')
    for value in (median, p90):
        x = LEFT + plot_w * value / top
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" class="marker"/>')
    out.append(f'<text x="{LEFT - 4}" y="{TOP + 8}" class="tick" text-anchor="end">{peak}</text>'
               f'<text x="{LEFT}" y="{H - BOTTOM + 14}" class="tick">0</text>'
               f'<text x="{W - 8}" y="{H - BOTTOM + 14}" class="tick" text-anchor="end">{top:.1f} mm</text>'
               f'<text x="{LEFT + plot_w / 2:.1f}" y="{H - 4}" class="axis" text-anchor="middle">per-sample error (mm), '
               f'{finite.size} samples</text></svg>')
    return "".join(out)


def _finished(request: HttpRequest, uuid, slug: str):
    """The submission (visible to this user) and benchmark, or 404 when it has no finished results on it."""
    submission = get_object_or_404(visible_submissions(request.user), uuid=uuid)
    benchmark = get_object_or_404(Benchmark, slug=slug)
    if submission.status != Status.FINISHED or not submission.results.filter(benchmark=benchmark).exists():
        raise Http404("This submission has no finished results on that benchmark.")
    return submission, benchmark


def render_png(request: HttpRequest, uuid, slug: str, rank: int) -> HttpResponse:
    """One stored picture of a worst sample, under the page's own rules (failure_renders.served_renders)."""
    submission, benchmark = _finished(request, uuid, slug)
    try:
        png = served_png(submission, benchmark, rank)
    except (LookupError, FileNotFoundError):
        raise Http404("No such picture may be shown.") from None
    response = HttpResponse(png, content_type="image/png")
    response["Cache-Control"] = "private, no-store"  # visibility can change (a split hidden again): ask each time
    return response


def render_url(submission, benchmark: Benchmark, rank: int) -> str:
    return reverse("submission-failure-render", args=(submission.uuid, benchmark.slug, rank))


def add_worst_thumbnails(submission, results) -> None:
    """``result.worst_render``: the worst shown picture (``served_renders``: the failures page's rules) of each
    benchmark's first result with per-sample values, for the submission page; None elsewhere."""
    seen: set[int] = set()
    for result in results:
        result.worst_render = None
        eligible = (submission.kind == SubmissionKind.PREDICTIONS and submission.status == Status.FINISHED
                    and not submission.baseline_source and getattr(result, "per_sample", False))
        if not eligible or result.benchmark_id in seen:
            continue
        seen.add(result.benchmark_id)
        shown = served_renders(submission, result.benchmark)
        if shown:
            worst = min(shown, key=lambda entry: entry["rank"])
            result.worst_render = {**worst, "url": render_url(submission, result.benchmark, worst["rank"])}


def failures(request: HttpRequest, uuid, slug: str) -> HttpResponse:
    submission, benchmark = _finished(request, uuid, slug)
    try:
        table = revealed_per_sample(submission, benchmark)
    except PerSampleUnavailable as exc:
        raise Http404(str(exc)) from None
    metric = benchmark.primary_metric
    # Parts with a value on some sample (no face column on a body-only GT); the primary has its own column.
    parts = tuple(k for k in PART_METRICS if k in table.arrays and np.isfinite(table.arrays[k]).any())
    columns = tuple(k for k in parts if k != metric)
    return render(request, "web/failures.html", {
        "submission": submission, "benchmark": benchmark, "metric_label": METRIC_LABELS[metric].label,
        "count": len(table), "splits": sorted(set(table.arrays["split"].tolist())),
        "part_labels": [METRIC_LABELS[k].label for k in columns], "worst": worst_samples(table, metric, columns),
        "histograms": [histogram_svg(table.arrays[k], METRIC_LABELS[k].label) for k in parts],
        "renders": [{**entry, "url": render_url(submission, benchmark, entry["rank"])}
                    for entry in served_renders(submission, benchmark, table)],
        "worst_count": WORST, "scale_mm": int(SCALE_MM),
    })
