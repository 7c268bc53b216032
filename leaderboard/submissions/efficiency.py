"""Speed, size and provenance figures beside the errors (issue 22 §5): their checks and where they are stored.

Three writers: a model run (the archive runner's trusted entry script measures them in the sandbox; a container
may report its own in ``/output/meta.json``), a reference model the server runs (``baselines``), and a predictions
upload whose submitter reports them (optional fields of the web form, the API and ``ehps submit``). Every figure is
checked the same way, so a board never shows a NaN, a negative time or a 10^30 parameter count.
"""
from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from leaderboard.submissions.models import Efficiency, Submission

# field -> (smallest, largest, what the bound means): a number outside is a typo or garbage, not a model
NUMBER_BOUNDS: dict[str, tuple[float, float, str]] = {
    "ms_per_image": (1e-6, 3_600_000.0, "one hour per image"),
    "peak_memory_mb": (1e-3, 10_000_000.0, "10 TB"),
    "params": (1, 10**13, "10^13 parameters"),
}
FIGURE_FIELDS = (*NUMBER_BOUNDS, "device")
PROVENANCE_FIELDS = ("code_commit",)
REPORTED_FIELDS = (*FIGURE_FIELDS, *PROVENANCE_FIELDS)  # the optional upload fields (web form, API, ehps submit)
# (label, help) of each optional upload field, shared by the web form and the API serializer
REPORTED_HELP: dict[str, tuple[str, str]] = {
    "ms_per_image": ("ms per image", "Your model's inference time per image in milliseconds (median after a warm-up)."),
    "peak_memory_mb": ("Peak memory (MB)", "Peak memory of inference in megabytes."),
    "params": ("Parameters", "Parameter count of the model (a whole number, e.g. 32008024)."),
    "device": ("Device", "What the time was measured on, e.g. 'NVIDIA A100 80GB' or 'cpu'."),
    "code_commit": ("Code commit", "The git commit of the code at Code URL that produced the predictions."),
}
DEVICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:()+/@-]{0,79}")
COMMIT = re.compile(r"[0-9a-f]{7,40}")


class FigureError(ValueError):
    """A reported figure that cannot be stored; ``field`` names it (answered 400 by the front ends)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _number(field: str, raw: object) -> float | int:
    low, high, meaning = NUMBER_BOUNDS[field]
    try:
        value = float(raw) if not isinstance(raw, bool) else math.nan
    except (TypeError, ValueError):
        raise FigureError(field, f"{field} must be a number, not {str(raw)[:40]!r}.") from None
    if not math.isfinite(value):
        raise FigureError(field, f"{field} must be a finite number, not {str(raw)[:40]!r}.")
    if value <= 0:
        raise FigureError(field, f"{field} must be positive, not {value:g}.")
    if not low <= value <= high:
        raise FigureError(field, f"{field} must be between {low:g} and {high:g} ({meaning}), not {value:g}.")
    if field == "params":
        if value != int(value):
            raise FigureError(field, f"params must be a whole number of parameters, not {value:g}.")
        return int(value)
    return value


def check_figures(raw: Mapping[str, object]) -> dict[str, object]:
    """The efficiency figures and code commit present in ``raw`` (empty values left out), checked.

    Raises FigureError naming the first bad field: not a number, NaN/inf, zero or negative, out of bounds, a
    device name with odd characters, a commit that is not 7-40 hex digits.
    """
    clean: dict[str, object] = {}
    for field in REPORTED_FIELDS:
        value = raw.get(field)
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if field in NUMBER_BOUNDS:
            clean[field] = _number(field, value.strip() if isinstance(value, str) else value)
        elif field == "device":
            text = str(value).strip()
            if not DEVICE.fullmatch(text):
                raise FigureError(field, "device must be 1-80 characters: letters, digits, spaces and ._:()+/@- "
                                         "(e.g. 'NVIDIA A100 80GB' or 'cpu').")
            clean[field] = text
        else:
            text = str(value).strip().lower()
            if not COMMIT.fullmatch(text):
                raise FigureError(field, "code_commit must be a git commit: 7 to 40 hexadecimal digits.")
            clean[field] = text
    return clean


def lenient_figures(raw: object) -> tuple[dict[str, object], list[str]]:
    """The good figures of a model's own report (a dict from ``/output/meta.json``) and why others were dropped.

    A model's report never fails its run: what does not pass the checks is left out and the reasons go to the
    staff log only (the model wrote them after seeing held-out images).
    """
    if not isinstance(raw, Mapping):
        return {}, ["meta.json is not a JSON object"]
    kept: dict[str, object] = {}
    dropped: list[str] = []
    for field in FIGURE_FIELDS:
        try:
            kept.update(check_figures({field: raw.get(field)}))
        except FigureError as exc:
            dropped.append(str(exc))
    return kept, dropped


def round_significant(value, digits: int = 3):
    """``value`` to ``digits`` significant digits, keeping ints ints (32,008,024 -> 32,000,000)."""
    if not value:
        return value
    rounded = round(value, digits - 1 - math.floor(math.log10(abs(value))))
    return int(rounded) if isinstance(value, int) else float(rounded)


def store_efficiency(submission: Submission, benchmarks: Iterable, figures: Mapping[str, object], source: str) -> int:
    """One Efficiency row per benchmark holding ``figures`` (checked), replacing an earlier one; rows written."""
    values = {k: figures.get(k) for k in NUMBER_BOUNDS} | {"device": figures.get("device") or ""}
    if all(v in (None, "") for v in values.values()):
        return 0
    count = 0
    for benchmark in benchmarks:
        Efficiency.objects.update_or_create(submission=submission, benchmark=benchmark,
                                            defaults={"source": source, **values})
        count += 1
    return count


# --- what a board row shows ----------------------------------------------------------------------------------

def board_efficiency(submission_ids: list[int], benchmark_id: int | None = None) -> dict[int, dict]:
    """{submission id: {ms_per_image, peak_memory_mb, params, device, source}} for a page of rows, one query.

    On a benchmark board the figures on that benchmark; overall, ms/image and peak memory averaged over the
    benchmarks that have them, the largest parameter count, and "reported" if any of them was reported.
    """
    rows = Efficiency.objects.filter(submission_id__in=submission_ids)
    if benchmark_id is not None:
        rows = rows.filter(benchmark_id=benchmark_id)
    found: dict[int, list[dict]] = {}
    for row in rows.values("submission_id", "source", *NUMBER_BOUNDS, "device").order_by("benchmark_id"):
        found.setdefault(row.pop("submission_id"), []).append(row)
    return {pk: combine_figures(figures) for pk, figures in found.items()}


def combine_figures(figures: list[dict]) -> dict:
    """One row's figures over several benchmarks (see ``board_efficiency``)."""
    def mean(key: str) -> float | None:
        values = [f[key] for f in figures if f[key] is not None]
        return sum(values) / len(values) if values else None

    params = [f["params"] for f in figures if f["params"] is not None]
    devices = sorted({f["device"] for f in figures if f["device"]})
    return {"ms_per_image": mean("ms_per_image"), "peak_memory_mb": mean("peak_memory_mb"),
            "params": max(params) if params else None, "device": ", ".join(devices),
            "source": "reported" if any(f["source"] == "reported" for f in figures) else "measured"}


def row_provenance(values: Mapping[str, object], stamp: Mapping[str, object] | None = None) -> dict:
    """What a computed row came from: the checkpoint (reference models) or the uploaded artefact's sha256, code URL
    and commit, and on a benchmark board the protocol and evaluator versions its result was scored with."""
    if values.get("checkpoint_sha256"):
        sha, what = values["checkpoint_sha256"], "checkpoint"
    else:
        sha, what = values.get("upload_sha256") or "", "model" if values.get("kind") != "predictions" else "predictions"
    out = {"sha256": sha, "sha256_of": what if sha else "", "code_url": values.get("code_url") or "",
           "code_commit": values.get("code_commit") or ""}
    if stamp:
        out |= {k: stamp.get(k) or "" for k in ("protocol", "protocol_version", "evaluator_version")}
    return out
