"""Where does my method fail, in pictures (issue 22 §4): which samples are drawn, what each may show, who sees it.

The ``WORST`` worst samples by the benchmark's primary metric come from ``per_sample.revealed_per_sample`` (revealed
splits only, nothing for a model run), so a hidden split's sample is never drawn. The workers (``workers.renders``)
draw them after finalize and store, in private storage next to the per-sample files::

    uploads/<uuid>/renders/<slug>/index.json   [{"rank", "sample_id", "split", "shows_gt"}], rank 1 = worst
    uploads/<uuid>/renders/<slug>/<rank>.png

A picture shows GT (grey mesh, per-vertex error colours) only on a revealed split whose ``public_ground_truth`` flag
is on and whose GT is an SMPL-X mesh; elsewhere the prediction alone, coloured by the per-part values the table
shows (docs/security.md, "Failure renders"). ``served_renders`` re-checks both rules at every request, so a split
hidden again, or a flag turned off, after the pictures were made stops their serving at once.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np

from evaluator.formats import SCHEMAS
from evaluator.render_scale import PART_METRICS
from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import PRIVATE, delete_prefix, open_file, put_bytes
from leaderboard.submissions.models import Submission
from leaderboard.submissions.per_sample import PerSampleTable, PerSampleUnavailable, revealed_per_sample
from leaderboard.submissions.visibility import revealed_splits

WORST = 12
INDEX = "index.json"


@dataclass(frozen=True)
class WorstSample:
    sample_id: str
    split: str
    value: float
    parts: tuple[float | None, ...]  # the requested ``part_keys``, in order; None: no value (or no such column)


def worst_samples(table: PerSampleTable, metric: str, part_keys: tuple[str, ...], n: int = WORST) -> list[WorstSample]:
    """The ``n`` samples with the largest ``metric`` (no value = not ranked), largest first; ties in GT order."""
    values = table.arrays[metric]
    finite = np.flatnonzero(np.isfinite(values))
    chosen = finite[np.argsort(-values[finite], kind="stable")[:n]]

    def number(key: str, i: int) -> float | None:
        v = float(table.arrays[key][i]) if key in table.arrays else np.nan
        return v if np.isfinite(v) else None

    return [WorstSample(str(table.arrays["sample_id"][i]), str(table.arrays["split"][i]), float(values[i]),
                        tuple(number(k, i) for k in part_keys)) for i in chosen]


@dataclass(frozen=True)
class RenderJob:
    rank: int  # 1 = worst
    sample_id: str
    split: str
    shows_gt: bool  # GT mesh and per-vertex errors (public-GT split); else the prediction by part values
    part_values: tuple[float | None, ...]  # evaluator.render.PART_METRICS: what the table already shows


def public_gt_split_names(benchmark: Benchmark) -> set[str]:
    """Revealed splits the host marked as having public ground truth."""
    return set(revealed_splits().filter(benchmark=benchmark, public_ground_truth=True).values_list("name", flat=True))


def gt_is_smplx_mesh(benchmark: Benchmark) -> bool:
    """Whether the GT is posed on the SMPL-X mesh, so it can be drawn and compared vertex by vertex (not 3DPW's SMPL)."""
    try:
        return SCHEMAS[benchmark.get_protocol().gt_schema].num_vertices == SCHEMAS["smplx"].num_vertices
    except (ValueError, KeyError):
        return False


def render_jobs(submission: Submission, benchmark: Benchmark) -> list[RenderJob]:
    """What to draw for ``submission`` on ``benchmark``; PerSampleUnavailable when nothing may be (a model run, no
    revealed split, no per-sample values)."""
    table = revealed_per_sample(submission, benchmark)
    public = public_gt_split_names(benchmark) if gt_is_smplx_mesh(benchmark) else set()
    worst = worst_samples(table, benchmark.primary_metric, PART_METRICS)
    return [RenderJob(rank, s.sample_id, s.split, s.split in public, s.parts) for rank, s in enumerate(worst, 1)]


def folder(submission: Submission, benchmark_slug: str) -> str:
    return f"uploads/{submission.uuid}/renders/{benchmark_slug}/"


def store_renders(submission: Submission, benchmark: Benchmark, jobs: list[RenderJob], pictures: list[bytes]) -> None:
    """Replace the benchmark's pictures; the index goes last, so a reader never lists a picture not yet stored."""
    prefix = folder(submission, benchmark.slug)
    delete_prefix(PRIVATE, prefix)
    for job, png in zip(jobs, pictures, strict=True):
        put_bytes(PRIVATE, f"{prefix}{job.rank:02d}.png", png)
    index = [{k: v for k, v in asdict(job).items() if k != "part_values"} for job in jobs]
    put_bytes(PRIVATE, prefix + INDEX, json.dumps(index, sort_keys=True).encode())


def served_renders(submission: Submission, benchmark: Benchmark, table: PerSampleTable | None = None) -> list[dict]:
    """The stored pictures that may be shown now: only of samples the per-sample reader serves now (its every rule:
    a split revealed now, never a model run, a phase's results once shown), GT only where the split still has public
    GT. ``table``: that reader's answer when the caller has it. The caller has checked that the user may see the
    submission's results."""
    if table is None:
        try:
            table = revealed_per_sample(submission, benchmark)
        except PerSampleUnavailable:
            return []
    try:
        with open_file(PRIVATE, folder(submission, benchmark.slug) + INDEX) as handle:
            index = json.loads(handle.read())
    except FileNotFoundError:
        return []
    shown = set(zip(table.arrays["sample_id"].tolist(), table.arrays["split"].tolist()))
    public = public_gt_split_names(benchmark)
    return [entry for entry in index
            if (entry["sample_id"], entry["split"]) in shown and (not entry["shows_gt"] or entry["split"] in public)]


def served_png(submission: Submission, benchmark: Benchmark, rank: int) -> bytes:
    """One picture's bytes; LookupError when it does not exist or may not be shown."""
    if not any(entry["rank"] == rank for entry in served_renders(submission, benchmark)):
        raise LookupError(f"No picture {rank} may be shown for benchmark {benchmark.slug!r}.")
    with open_file(PRIVATE, f"{folder(submission, benchmark.slug)}{rank:02d}.png") as handle:
        return handle.read()
