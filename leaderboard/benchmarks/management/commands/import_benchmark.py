"""Create or update a benchmark from its published ground truth (``--format``) or our own GT ``.npz``.

``--format humandata|ehf|agora|3dpw|ubody|npz --source PATH`` runs evaluator.importers' parser for that format
(trusted operator files: pickle only in the HumanData reader), writes our GT layout and imports it with the
benchmark's protocol (default: the one the format implies). ``--gt FILE`` and ``--humandata FILE`` remain as
shorthands for ``--format npz`` and ``--format humandata``.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluator.formats import DEFAULT_SPLIT
from evaluator.importers import IMPORT_FORMATS, GroundTruthImportError, parse_ground_truth
from evaluator.protocols import available_protocols, get_protocol
from leaderboard.benchmarks import import_report
from leaderboard.benchmarks.demo import DEMO_SLUGS, exclude_demo_from_mpe, move_demo_after_real
from leaderboard.benchmarks.models import GT_PARTS
from leaderboard.benchmarks.services import (
    BenchmarkImportError, BenchmarkSpec, default_hidden_splits, import_ground_truth, mpe_membership, validated_protocol,
)


def key_value(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` with VALUE read as JSON when it is JSON (numbers, true/false, null), else as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
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


class Command(BaseCommand):
    help = (
        "Import ground truth for a benchmark: validates it, stores it under PRIVATE_STORAGE_ROOT/gt/<slug>/, writes the "
        "public sample-id list and creates the splits. Re-running updates the benchmark."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--source", type=Path, help="the published GT file or folder, read as --format")
        source.add_argument("--gt", type=Path, help="ground truth in our format (see docs/formats.md); = --format npz")
        source.add_argument(
            "--humandata", type=Path,
            help="trusted HumanData .npz (SMPLer-X test annotations); read with allow_pickle=True, operators only",
        )
        parser.add_argument("--format", choices=IMPORT_FORMATS, help="how to read --source (see docs/formats.md)")
        parser.add_argument("--format-option", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                            help="parser option, e.g. sample_interval=100, data_root=DIR, camera=official (repeatable)")
        parser.add_argument("--humandata-interval", type=int, default=None, help="keep every k-th HumanData row")
        parser.add_argument("--protocol", help=f"evaluation protocol ({', '.join(available_protocols())}); "
                                               "default: the one the format implies")
        parser.add_argument("--protocol-option", action="append", default=[], metavar="KEY=VALUE", type=key_value,
                            help="protocol option, e.g. variant=smplest-x or joints=smplest-x (repeatable)")
        parser.add_argument("--gt-parts", nargs="+", choices=GT_PARTS, help="parts the GT has (default: the protocol's)")
        parser.add_argument("--primary-metric", help="default: the protocol's primary metric")
        parser.add_argument("--fill-missing", action="append", default=[], metavar="KEY",
                            help="humandata: use zeros for a required key the file lacks (global_orient, body_pose, "
                                 "betas, transl); without it such a file is refused (repeatable)")
        parser.add_argument("--mpe", action=argparse.BooleanOptionalAction, default=None,
                            help="average this benchmark into MPE (default: kept on re-import; a new benchmark joins "
                                 "only while MPE has fewer than the paper's five)")
        parser.add_argument("--hand-mpe", action=argparse.BooleanOptionalAction, default=None,
                            help="average it into hand MPE (default: follows the MPE decision, needs hand GT)")
        parser.add_argument("--images", type=Path, help="model input folder (manifest.json + images/) for model submissions")
        parser.add_argument(
            "--hidden-splits", nargs="*", default=None, metavar="SPLIT",
            help="splits whose results stay hidden (staff only) until revealed; default: every split named test*, "
                 "heldout*/held-out*, hidden* or private* (any case)",
        )
        parser.add_argument("--all-public", action="store_true",
                            help="allow an import that leaves no split hidden (every split's results public at once)")
        parser.add_argument("--ranking-split", help="split the leaderboard ranks by (default: test, else the first revealed)")
        parser.add_argument("--description", default="")
        parser.add_argument("--paper-url", default="")
        parser.add_argument("--data-url", default="")
        parser.add_argument("--display-order", type=int, default=100)

    def handle(self, *args, **opts) -> None:
        self._opts = opts
        fmt, source = self._format_and_source(opts)
        options = dict(opts["format_option"])
        if fmt == "humandata":
            options.setdefault("model_dir", str(settings.SMPLX_MODEL_DIR))
            if opts["humandata_interval"] is not None:
                options.setdefault("sample_interval", opts["humandata_interval"])
            if opts["fill_missing"]:
                options.setdefault("fill_missing", opts["fill_missing"])
        elif opts["fill_missing"]:
            raise CommandError("--fill-missing is a humandata option (other formats never fill required values).")
        try:
            with tempfile.TemporaryDirectory() as tmp:
                if fmt == "npz" or opts["protocol"]:  # check the options before reading a (large) source
                    protocol = self._protocol(opts["protocol"] or "smplx-generic")
                    validated_protocol(self._spec(None, protocol))
                if fmt == "npz":  # our layout: the protocol says which GT schema to check it against
                    options.setdefault("schema", protocol.gt_schema)
                    options.setdefault("protocol", protocol.name)
                parsed = parse_ground_truth(fmt, source, **options)
                protocol = self._protocol(opts["protocol"] or parsed.protocol)
                if parsed.schema != protocol.gt_schema:
                    raise CommandError(f"{fmt} GT from {source.name} is in the {parsed.schema!r} layout, but protocol "
                                       f"{protocol.name!r} reads {protocol.gt_schema!r}; choose another --protocol.")
                converted = parsed.write(Path(tmp) / "gt.npz")
                self._parse_report(parsed, source, fmt)
                spec = self._spec(converted, protocol)
                before = import_report.snapshot(spec.slug)
                benchmark = import_ground_truth(converted, spec, opts["images"], parsed.inputs_manifest())
        except (BenchmarkImportError, GroundTruthImportError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"  protocol {protocol.name} v{protocol.version}"
                          f"{' ' + str(benchmark.protocol_options) if benchmark.protocol_options else ''}; "
                          f"GT parts: {', '.join(benchmark.gt_parts)}; primary metric {benchmark.primary_metric}.")
        self._report(benchmark)
        for line in import_report.describe(before, benchmark):
            self.stdout.write(line)

    def _parse_report(self, parsed, source: Path, fmt: str) -> None:
        """Rows read, rows each official filter dropped, values the GT step replaced or defaults filled."""
        def listed(counts: dict[str, int]) -> str:
            return ", ".join(f"{reason}: {n}" for reason, n in sorted(counts.items()))

        skipped = listed(parsed.skipped)
        read = f"{parsed.rows_read} rows" if parsed.rows_read is not None else f"{len(parsed)} samples"
        kept = f"; {len(parsed)} samples kept" if parsed.rows_read is not None else ""
        self.stdout.write(f"Read {read} from {source.name} as {fmt}{kept}"
                          f"{f' (left out by the official filtering: {skipped})' if skipped else ''}.")
        if parsed.adjusted:
            self.stdout.write(f"  Changed by the official GT step: {listed(parsed.adjusted)}.")
        if parsed.filled:
            self.stdout.write(f"  Filled by default (the source lacks them): {listed(parsed.filled)}.")
        for note in parsed.notes:
            self.stdout.write(f"  Note: {note}.")
        given = ", ".join(parsed.inputs) or "ids only"
        self.stdout.write(f"  Public inputs manifest (inputs.json beside the sample-id list): {given}.")

    def _protocol(self, name: str):
        try:
            return get_protocol(name, dict(self._opts["protocol_option"]))
        except ValueError as exc:
            raise CommandError(f"Protocol rejected: {exc}") from None

    @staticmethod
    def _format_and_source(opts) -> tuple[str, Path]:
        if opts["gt"] is not None:
            if opts["format"] not in (None, "npz"):
                raise CommandError("--gt is our own GT layout (--format npz); use --source with --format "
                                   f"{opts['format']}.")
            return "npz", opts["gt"]
        if opts["humandata"] is not None:
            if opts["format"] not in (None, "humandata"):
                raise CommandError(f"--humandata is --format humandata; use --source with --format {opts['format']}.")
            return "humandata", opts["humandata"]
        if opts["format"] is None:
            raise CommandError(f"--source needs --format ({', '.join(IMPORT_FORMATS)}).")
        return opts["format"], opts["source"]

    def _spec(self, gt_path: Path | None, protocol) -> BenchmarkSpec:
        opts = self._opts
        hidden = opts["hidden_splits"]
        if hidden is None and gt_path is not None:  # safe default: a test split stays hidden until the host reveals it
            hidden = default_hidden_splits(gt_split_names(gt_path))
        has_hands = "hands" in (opts["gt_parts"] or protocol.parts)
        try:
            self._membership = mpe_membership(opts["slug"], opts["mpe"], opts["hand_mpe"], has_hands)
        except BenchmarkImportError as exc:
            raise CommandError(str(exc)) from None
        return BenchmarkSpec(
            slug=opts["slug"], name=opts["name"], description=opts["description"], paper_url=opts["paper_url"],
            data_url=opts["data_url"], primary_metric=opts["primary_metric"] or protocol.primary_metric,
            protocol=protocol.name, protocol_options=dict(opts["protocol_option"]), gt_parts=opts["gt_parts"],
            counts_toward_mpe=self._membership.mpe, counts_toward_hand_mpe=self._membership.hand_mpe,
            hidden_splits=hidden or [], allow_all_public=opts["all_public"],
            ranking_split=opts["ranking_split"], display_order=opts["display_order"],
        )

    def _report(self, benchmark) -> None:
        """Say what was done: splits and who sees them, the ranking split, MPE, and how to change it."""
        splits = list(benchmark.splits.all())
        self.stdout.write(self.style.SUCCESS(f"Benchmark '{benchmark.slug}' imported: {benchmark.num_samples} samples."))
        for s in splits:
            seen = "public" if s.is_revealed else "HIDDEN (scored; results shown to staff only until revealed)"
            self.stdout.write(f"  split {s.name}: {s.num_samples} samples, {seen}{', ranking split' if s.is_ranking else ''}")
        ranking = benchmark.ranking_split
        if ranking is None:
            self.stdout.write("  The leaderboard and MPE show nothing for it until its ranking split is revealed.")
        m = self._membership
        self.stdout.write(f"  MPE: {'counts' if benchmark.counts_toward_mpe else 'not counted'} ({m.why_mpe}); "
                          f"hand MPE: {'counts' if benchmark.counts_toward_hand_mpe else 'not counted'} "
                          f"({m.why_hand_mpe}). Change with --mpe/--no-mpe and --hand-mpe/--no-hand-mpe.")
        if any(not s.is_revealed for s in splits):
            self.stdout.write("  Reveal a split in the admin (Splits -> 'Reveal the selected splits...'; choosing the ranking "
                              "split is its own action), or re-import "
                              "with --hidden-splits listing only the splits to keep hidden.")
        if benchmark.counts_toward_mpe and benchmark.slug not in DEMO_SLUGS:
            demoted = exclude_demo_from_mpe()
            if demoted:
                self.stdout.write(f"  The demo benchmarks {', '.join(sorted(demoted))} no longer count toward MPE or hand MPE "
                                  "(synthetic data; a real benchmark does now).")
        if benchmark.slug not in DEMO_SLUGS:
            moved = move_demo_after_real()
            if moved:
                self.stdout.write(f"  The demo benchmarks {', '.join(sorted(moved))} are now listed after the real ones; "
                                  "remove them with: manage.py create_demo_benchmarks --remove")
