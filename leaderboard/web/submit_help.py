"""The "How to submit" help of a benchmark page and the two files it offers: the public sample-id list and a
template prediction .npz. Everything in the table comes from ``evaluator.submission_format`` (the checker's rules).
"""
from __future__ import annotations

import io
import inspect

import numpy as np
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotFound
from django.shortcuts import get_object_or_404

from evaluator.submission_format import prediction_keys, template_arrays
from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import public_inputs_manifest, public_sample_ids

CHECK_COMMAND = "ehps check {file} --benchmark {slug}"  # the light client; reads ./{slug}-sample_ids.txt when present


def _sample_ids(benchmark: Benchmark) -> np.ndarray:
    try:
        return public_sample_ids(benchmark)
    except FileNotFoundError:
        raise Http404(f"Benchmark '{benchmark.slug}' has no sample-id list yet.") from None


def protocol_summary(benchmark: Benchmark) -> dict | None:
    """Name, version, parts and description of the benchmark's evaluation protocol, when it declares one."""
    name = getattr(benchmark, "protocol", "")
    if not name:
        return None
    summary: dict = {"name": name, "version": "", "title": "", "text": "", "parts": [], "metrics": []}
    try:
        from evaluator.protocols import get_protocol

        protocol = get_protocol(name, getattr(benchmark, "protocol_options", None) or None)
    except (ImportError, ValueError):
        return summary  # unknown here: still say which protocol the host chose
    # The protocol's own docstring only: an inherited one describes the base class, not what this protocol measures.
    doc = inspect.cleandoc(type(protocol).__dict__.get("__doc__") or "")
    summary.update(
        version=getattr(protocol, "version", ""), title=getattr(protocol, "title", ""),
        text=doc.split("\n\n", 1)[0].replace("\n", " "), parts=sorted(getattr(protocol, "parts", ())),
        metrics=[label.label for label in protocol.result_labels().values()], layout=protocol.prediction_layout,
    )
    return summary


def how_to_submit(benchmark: Benchmark) -> dict:
    return {
        "benchmark": benchmark,
        "layouts": prediction_keys(),
        "protocol": protocol_summary(benchmark),
        "check_command": CHECK_COMMAND.format(file=f"{benchmark.slug}.npz", slug=benchmark.slug),
        "people": benchmark.protocol_layout == "people",
    }


def _models_only(benchmark: Benchmark) -> HttpResponse | None:
    """A plain-text 404 saying why, for a models-only benchmark: its ids stay with the held-out inputs."""
    if benchmark.accepts_predictions:
        return None
    return HttpResponseNotFound(f"Benchmark '{benchmark.slug}' accepts models only; its sample ids are not published.\n",
                                content_type="text/plain; charset=utf-8")


def sample_ids_txt(request: HttpRequest, slug: str) -> HttpResponse:
    """One sample id a line, in ground-truth order (ids only: never a split, a value or a path)."""
    benchmark = get_object_or_404(Benchmark, slug=slug)
    if refused := _models_only(benchmark):
        return refused
    ids = _sample_ids(benchmark)
    response = HttpResponse("".join(f"{i}\n" for i in ids.tolist()), content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{benchmark.slug}-sample_ids.txt"'
    return response


def inputs_response(benchmark: Benchmark) -> HttpResponse:
    """The public inputs manifest (image, person box, camera per sample id; never GT), as a JSON download.
    Refused like the id list for a models-only benchmark; the web page and the API both answer with it."""
    if refused := _models_only(benchmark):
        return refused
    try:
        body = public_inputs_manifest(benchmark)
    except FileNotFoundError as exc:
        return HttpResponseNotFound(f"{exc}\n", content_type="text/plain; charset=utf-8")
    response = HttpResponse(body, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{benchmark.slug}-inputs.json"'
    return response


def inputs_json(request: HttpRequest, slug: str) -> HttpResponse:
    return inputs_response(get_object_or_404(Benchmark, slug=slug))


def template_npz(request: HttpRequest, slug: str) -> HttpResponse:
    """A valid prediction file for this benchmark with every parameter zero, to fill in."""
    benchmark = get_object_or_404(Benchmark, slug=slug)
    if refused := _models_only(benchmark):
        return refused
    if benchmark.protocol_layout == "people":  # how many people an image holds is the method's to find
        return HttpResponseNotFound(f"Benchmark '{benchmark.slug}' takes people of whole images (image_ids, joints2d, "
                                    "vertices or SMPL-X parameters per person); its page's How to submit section shows "
                                    "the keys and `ehps convert-agora`. There is no template file.\n",
                                    content_type="text/plain; charset=utf-8")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **template_arrays(_sample_ids(benchmark)))  # zeros compress to almost nothing
    response = HttpResponse(buffer.getvalue(), content_type="application/octet-stream")
    response["Content-Disposition"] = f'attachment; filename="{benchmark.slug}.npz"'
    return response
