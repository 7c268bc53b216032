"""One benchmark import, as ``manage.py import_benchmark`` and the staff import page (a Celery task) both run it.

``run_import(request, reporter)`` parses the published GT (``evaluator.importers``; trusted staff/operator files:
pickle only in the HumanData reader), writes our GT layout, imports it with the benchmark's protocol and tells
the reporter everything it did: rows read and dropped, GT-step changes and fills, splits and who sees them, MPE /
hand MPE membership, and which earlier numbers moved (``import_report``). Nothing changes until it succeeds: the
stored files and the database rows are replaced together (``services.restorable`` around one transaction), and
any failure raises ``ImportFailed`` with the benchmark as it was.
"""
from __future__ import annotations

import json
import re
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
from django.conf import settings
from django.db import transaction

from evaluator.formats import DEFAULT_SPLIT
from evaluator.importers import GroundTruthImportError, ImportedGT, parse_ground_truth
from evaluator.protocols import get_protocol
from leaderboard.benchmarks import import_report
from leaderboard.benchmarks.demo import DEMO_SLUGS, exclude_demo_from_mpe, move_demo_after_real
from leaderboard.benchmarks.models import Benchmark
from leaderboard.benchmarks.services import (
    BenchmarkImportError, BenchmarkSpec, Membership, default_hidden_splits, import_ground_truth, mpe_membership,
    restorable, validated_protocol,
)


class ImportFailed(ValueError):
    """The import was refused or failed; nothing was changed. The message says why."""


@dataclass
class ImportRequest:
    """Everything an import is told (the command's options; the page's form). JSON-able but for the two paths."""
    slug: str
    name: str
    fmt: str
    source: Path | None = None  # the published GT file or folder, read as ``fmt``
    format_options: dict = field(default_factory=dict)
    humandata_interval: int | None = None
    protocol: str | None = None  # None: the one the format implies
    protocol_options: dict = field(default_factory=dict)
    gt_parts: list[str] | None = None
    primary_metric: str | None = None
    fill_missing: list[str] = field(default_factory=list)
    mpe: bool | None = None
    hand_mpe: bool | None = None
    images: Path | None = None
    hidden_splits: list[str] | None = None  # None: the default names (test*, heldout*, hidden*, private*)
    all_public: bool = False
    public_gt_splits: list[str] = field(default_factory=list)  # Split.public_ground_truth
    ranking_split: str | None = None
    description: str = ""
    paper_url: str = ""
    data_url: str = ""
    display_order: int = 100
    origin: str = "command"  # "site": the staff import page; its messages name the form's fields, not flags

    def options_json(self) -> dict:
        """The request without its local paths (what a stored import job keeps)."""
        return {k: v for k, v in asdict(self).items() if k not in ("source", "images")}

    def in_own_terms(self, text: str) -> str:
        """``text`` with each command flag named as the form field that sets it, for an import from the site."""
        if self.origin != "site":
            return text
        return FLAG.sub(lambda m: SITE_FIELDS.get(m.group(0), m.group(0)), text)


FLAG = re.compile(r"--[a-z][a-z-]*[a-z]")
# The import form's field (and choice) for each flag an import message may name (leaderboard/web/host_forms.py).
SITE_FIELDS = {
    "--all-public": "'Hidden splits: none'",
    "--hidden-splits": "'Hidden splits: exactly the splits listed'",
    "--mpe": "'Counts toward MPE: yes'",
    "--no-mpe": "'Counts toward MPE: no'",
    "--hand-mpe": "'Counts toward hand MPE: yes'",
    "--no-hand-mpe": "'Counts toward hand MPE: no'",
    "--fill-missing": "'Fill missing'",
    "--public-gt-splits": "'Splits with public GT'",
}


class _InOwnTerms:
    """A reporter whose lines name the request's own fields (``ImportRequest.in_own_terms``)."""

    def __init__(self, reporter: "Reporter", request: ImportRequest) -> None:
        self.reporter, self.request = reporter, request

    def line(self, text: str, style: str = "") -> None:
        self.reporter.line(self.request.in_own_terms(text), style)

    def stage(self, fraction: float, what: str) -> None:
        self.reporter.stage(fraction, what)


class Reporter(Protocol):
    def line(self, text: str, style: str = "") -> None:
        """One line of the report; ``style`` "success" for the headline."""

    def stage(self, fraction: float, what: str) -> None:
        """Progress: ``fraction`` (0-1) of the import done, now doing ``what``."""


@dataclass
class ImportOutcome:
    benchmark: Benchmark
    changes: import_report.ImportChanges


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON when it is JSON (numbers, true/false, null), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def gt_split_names(path: Path) -> list[str]:
    """The split names of a GT file, read from its ``splits`` array only (the import validates the rest)."""
    try:
        with np.load(path, allow_pickle=False) as gt:
            return sorted(set(gt["splits"].astype(str).tolist())) if "splits" in gt.files else [DEFAULT_SPLIT]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return []  # not readable: import_ground_truth reports the real problem


def _parser_options(request: ImportRequest) -> dict:
    options = dict(request.format_options)
    if request.fmt == "humandata":
        options.setdefault("model_dir", str(settings.SMPLX_MODEL_DIR))
        if request.humandata_interval is not None:
            options.setdefault("sample_interval", request.humandata_interval)
        if request.fill_missing:
            options.setdefault("fill_missing", list(request.fill_missing))
    elif request.fill_missing:
        raise ImportFailed("--fill-missing is a humandata option (other formats never fill required values).")
    return options


def _protocol(request: ImportRequest, name: str):
    try:
        return get_protocol(name, dict(request.protocol_options))
    except ValueError as exc:
        raise ImportFailed(f"Protocol rejected: {exc}") from None


def _spec(request: ImportRequest, gt_path: Path | None, protocol) -> tuple[BenchmarkSpec, Membership]:
    hidden = request.hidden_splits
    if hidden is None and gt_path is not None:  # safe default: a test split stays hidden until the host reveals it
        hidden = default_hidden_splits(gt_split_names(gt_path))
    has_hands = "hands" in (request.gt_parts or protocol.parts)
    membership = mpe_membership(request.slug, request.mpe, request.hand_mpe, has_hands, protocol.name, protocol.in_mpe)
    return BenchmarkSpec(
        slug=request.slug, name=request.name, description=request.description, paper_url=request.paper_url,
        data_url=request.data_url, primary_metric=request.primary_metric or protocol.primary_metric,
        protocol=protocol.name, protocol_options=dict(request.protocol_options),
        gt_parts=list(request.gt_parts) if request.gt_parts else None,
        counts_toward_mpe=membership.mpe, counts_toward_hand_mpe=membership.hand_mpe,
        hidden_splits=hidden or [], allow_all_public=request.all_public, public_gt_splits=list(request.public_gt_splits),
        ranking_split=request.ranking_split, display_order=request.display_order,
    ), membership


def run_import(request: ImportRequest, reporter: Reporter) -> ImportOutcome:
    """Create or update the benchmark ``request.slug``; ImportFailed (nothing changed) when refused or failed. The
    report and the refusal name the options as the request's origin knows them (flags, or the page's fields)."""
    try:
        return _run_import(request, _InOwnTerms(reporter, request))
    except ImportFailed as exc:
        raise ImportFailed(request.in_own_terms(str(exc))) from None


def _run_import(request: ImportRequest, reporter: Reporter) -> ImportOutcome:
    source = request.source
    if source is None:
        raise ImportFailed("No ground truth source was given.")
    options = _parser_options(request)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            reporter.stage(0.05, "checking the options")
            if request.fmt == "npz" or request.protocol:  # check the options before reading a (large) source
                protocol = _protocol(request, request.protocol or "smplx-generic")
                validated_protocol(_spec(request, None, protocol)[0])
            if request.fmt == "npz":  # our layout: the protocol says which GT schema to check it against
                options.setdefault("schema", protocol.gt_schema)
                options.setdefault("protocol", protocol.name)
            reporter.stage(0.1, f"reading {source.name} as {request.fmt}")
            parsed = parse_ground_truth(request.fmt, source, **options)
            protocol = _protocol(request, request.protocol or parsed.protocol)
            if parsed.schema != protocol.gt_schema:
                raise ImportFailed(f"{request.fmt} GT from {source.name} is in the {parsed.schema!r} layout, but "
                                   f"protocol {protocol.name!r} reads {protocol.gt_schema!r}; choose another protocol.")
            reporter.stage(0.4, "writing the converted ground truth")
            converted = parsed.write(Path(tmp) / "gt.npz")
            _parse_report(reporter, parsed, source, request.fmt)
            spec, membership = _spec(request, converted, protocol)
            before = import_report.snapshot(spec.slug)
            reporter.stage(0.5, "validating and storing the ground truth")
            with restorable(spec.slug), transaction.atomic():  # files and rows change together, or neither
                benchmark = import_ground_truth(converted, spec, request.images, parsed.inputs_manifest())
                real = benchmark.slug not in DEMO_SLUGS
                demoted = exclude_demo_from_mpe() if real and benchmark.counts_toward_mpe else []
                moved = move_demo_after_real() if real else []
    except (BenchmarkImportError, GroundTruthImportError, FileNotFoundError) as exc:
        raise ImportFailed(str(exc)) from None
    reporter.stage(0.85, "re-scoring earlier results")
    changes = import_report.describe(before, benchmark)
    reporter.line(f"  protocol {protocol.name} v{protocol.version}"
                  f"{' ' + str(benchmark.protocol_options) if benchmark.protocol_options else ''}; "
                  f"GT parts: {', '.join(benchmark.gt_parts)}; primary metric {benchmark.primary_metric}.")
    _outcome_report(reporter, benchmark, membership, demoted, moved)
    for line in changes.lines():
        reporter.line(line)
    reporter.stage(1.0, "done")
    return ImportOutcome(benchmark, changes)


def _parse_report(reporter: Reporter, parsed: ImportedGT, source: Path, fmt: str) -> None:
    """Rows read, rows each official filter dropped, values the GT step replaced or defaults filled."""
    def listed(counts: dict[str, int]) -> str:
        return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))

    skipped = listed(parsed.skipped)
    read = f"{parsed.rows_read} rows" if parsed.rows_read is not None else f"{len(parsed)} samples"
    kept = f"; {len(parsed)} samples kept" if parsed.rows_read is not None else ""
    reporter.line(f"Read {read} from {source.name} as {fmt}{kept}"
                  f"{f' (left out by the official filtering: {skipped})' if skipped else ''}.")
    if parsed.adjusted:
        reporter.line(f"  Changed by the official GT step: {listed(parsed.adjusted)}.")
    if parsed.filled:
        reporter.line(f"  Filled by default (the source lacks them): {listed(parsed.filled)}.")
    for note in parsed.notes:
        reporter.line(f"  Note: {note}.")
    given = ", ".join(parsed.inputs) or "ids only"
    reporter.line(f"  Public inputs manifest (inputs.json beside the sample-id list): {given}.")


def _outcome_report(reporter: Reporter, benchmark: Benchmark, membership: Membership, demoted: list[str],
                    moved: list[str]) -> None:
    """Say what was done: splits and who sees them, the ranking split, MPE, and how to change it."""
    splits = list(benchmark.splits.all())
    reporter.line(f"Benchmark '{benchmark.slug}' imported: {benchmark.num_samples} samples.", "success")
    for s in splits:
        seen = "public" if s.is_revealed else "HIDDEN (scored; results shown to staff only until revealed)"
        gt = ", public GT (failure pictures may show its GT)" if s.public_ground_truth else ""
        reporter.line(f"  split {s.name}: {s.num_samples} samples, {seen}{', ranking split' if s.is_ranking else ''}{gt}")
    if benchmark.ranking_split is None:
        reporter.line("  The leaderboard and MPE show nothing for it until its ranking split is revealed.")
    reporter.line(f"  MPE: {'counts' if benchmark.counts_toward_mpe else 'not counted'} ({membership.why_mpe}); "
                  f"hand MPE: {'counts' if benchmark.counts_toward_hand_mpe else 'not counted'} "
                  f"({membership.why_hand_mpe}). Change with --mpe/--no-mpe and --hand-mpe/--no-hand-mpe.")
    if any(not s.is_revealed for s in splits):
        reporter.line("  Reveal a split in the admin (Splits -> 'Reveal the selected splits...'; choosing the ranking "
                      "split is its own action), or re-import with --hidden-splits listing only the splits to keep hidden.")
    if demoted:
        reporter.line(f"  The demo benchmarks {', '.join(sorted(demoted))} no longer count toward MPE or hand MPE "
                      "(synthetic data; a real benchmark does now).")
    if moved:
        reporter.line(f"  The demo benchmarks {', '.join(sorted(moved))} are now listed after the real ones; "
                      "remove them with: manage.py create_demo_benchmarks --remove")
