"""Per-sample errors: written by the workers for every shard, served to the submission's owner on revealed splits only.

Files live in private storage next to the submission's upload (never mapped to a URL)::

    uploads/<uuid>/per_sample/<benchmark slug>/<shard index>.npz   {"sample_id", "split", <metric>: (n,) float64 mm}

``revealed_per_sample`` is the only reader: it drops every row whose split is not revealed (the one rule,
``visibility.revealed_splits``: a split with no Split row counts as hidden), so a hidden split's per-sample values are
never served, to anyone. It serves nothing for a model run (a model submission, or any submission on a models-only
benchmark): its per-sample values are numbers the model chose, one per held-out image, so they could carry the images
out (docs/security.md, "Leak budget"); model runs report aggregates only.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import numpy as np

from leaderboard.benchmarks.models import Benchmark
from leaderboard.storage import PRIVATE, open_file, put_bytes
from leaderboard.submissions.models import ShardResult, Submission, SubmissionKind
from leaderboard.submissions.visibility import phase_hidden_benchmarks, revealed_split_names

DOWNLOAD_FORMATS = ("csv", "npz")


class PerSampleUnavailable(LookupError):
    """Nothing can be served (no revealed split, or no per-sample values stored); the message says which."""


def shard_name(submission: Submission, benchmark_slug: str, shard_index: int) -> str:
    return f"uploads/{submission.uuid}/per_sample/{benchmark_slug}/{shard_index:05d}.npz"


def store_shard(submission: Submission, benchmark_slug: str, shard_index: int, values: dict[str, np.ndarray]) -> None:
    """Write one shard's per-sample values (whole: a re-run shard replaces the file)."""
    arrays = {k: (np.asarray(v).astype(str) if k in ("sample_id", "split") else np.asarray(v, dtype=np.float64))
              for k, v in values.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    put_bytes(PRIVATE, shard_name(submission, benchmark_slug, shard_index), buffer.getvalue())


def serves_per_sample(submission: Submission, benchmark: Benchmark) -> bool:
    """Per-sample rows exist for predictions files on benchmarks with public inputs, never for a model's run, and only
    where the protocol keeps them (``Protocol.per_sample_rows``: none for people of whole images)."""
    return (submission.kind == SubmissionKind.PREDICTIONS and benchmark.accepts_predictions
            and benchmark.protocol_keeps_per_sample)


@dataclass(frozen=True)
class PerSampleTable:
    benchmark: Benchmark
    columns: list[str]  # "sample_id", "split", then the metric keys
    arrays: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.arrays["sample_id"])

    def to_npz(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **self.arrays)
        return buffer.getvalue()

    def iter_csv(self, rows_per_chunk: int = 1024):
        """The CSV in chunks of ``rows_per_chunk`` rows, for a streamed response: the web process never holds the
        whole text (it built 6k rows in 0.43 s in memory before; issue 24, Low)."""
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(self.columns)
        metrics = self.columns[2:]
        for start in range(0, len(self), rows_per_chunk):
            for i in range(start, min(start + rows_per_chunk, len(self))):
                values = [self.arrays[k][i] for k in metrics]
                # sample ids are the benchmark's own (imported by operators); '' for a sample without a value (NaN)
                writer.writerow([self.arrays["sample_id"][i], self.arrays["split"][i],
                                 *("" if np.isnan(v) else repr(float(v)) for v in values)])
            yield out.getvalue()
            out.seek(0)
            out.truncate()
        if out.tell():
            yield out.getvalue()  # the header of an empty table


def revealed_per_sample(submission: Submission, benchmark: Benchmark) -> PerSampleTable:
    """The submission's per-sample values on ``benchmark``, revealed splits only, in GT order.

    Raises PerSampleUnavailable for a model run, when no split of the benchmark is revealed or nothing was stored.
    """
    if not serves_per_sample(submission, benchmark):
        raise PerSampleUnavailable("Model runs on held-out images report aggregate results only: per-sample values "
                                   "are not served for them.")
    revealed = revealed_split_names(benchmark)  # the one visibility rule: hidden unless revealed
    if not revealed:
        raise PerSampleUnavailable(f"No split of benchmark {benchmark.slug!r} is revealed yet.")
    if benchmark.pk in phase_hidden_benchmarks(submission):
        raise PerSampleUnavailable(f"Results of this submission's phase of benchmark {benchmark.slug!r} are shown "
                                   "after the phase ends.")
    indices = ShardResult.objects.filter(submission=submission, benchmark=benchmark).order_by("shard_index")
    parts: list[dict[str, np.ndarray]] = []
    for index in indices.values_list("shard_index", flat=True):
        try:
            with open_file(PRIVATE, shard_name(submission, benchmark.slug, index)) as handle:
                stored = io.BytesIO(handle.read())
        except FileNotFoundError:
            raise PerSampleUnavailable(f"Per-sample errors of benchmark {benchmark.slug!r} were not stored for this "
                                       "submission (evaluated before they were kept).") from None
        with np.load(stored, allow_pickle=False) as data:  # written by our workers
            keep = np.isin(data["split"], sorted(revealed))
            parts.append({k: data[k][keep] for k in data.files})
    if not parts:
        raise PerSampleUnavailable(f"This submission has no results on benchmark {benchmark.slug!r}.")
    metrics = [k for k in parts[0] if k not in ("sample_id", "split")]
    columns = ["sample_id", "split", *metrics]
    arrays = {k: np.concatenate([p[k] for p in parts]) for k in columns}
    return PerSampleTable(benchmark, columns, arrays)


def download_response(submission: Submission, benchmark: Benchmark, fmt: str):
    """An attachment response (``fmt`` csv or npz); PerSampleUnavailable if there is nothing to serve.

    Only for a finished submission: a partial table would silently miss samples.
    """
    from django.http import HttpResponse, StreamingHttpResponse

    from leaderboard.submissions.models import Status

    if fmt not in DOWNLOAD_FORMATS:
        raise PerSampleUnavailable(f"Unknown format {fmt!r}; use one of {', '.join(DOWNLOAD_FORMATS)}.")
    if submission.status != Status.FINISHED:
        raise PerSampleUnavailable("Per-sample errors are available once the submission has finished.")
    table = revealed_per_sample(submission, benchmark)
    if fmt == "csv":
        response = StreamingHttpResponse(table.iter_csv(), content_type="text/csv")
    else:
        response = HttpResponse(table.to_npz(), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="per-sample-{benchmark.slug}-{submission.uuid}.{fmt}"'
    return response
