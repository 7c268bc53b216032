"""Create or update a benchmark from its published ground truth (``--format``) or our own GT ``.npz``.

``--format humandata|ehf|agora|3dpw|ubody|agora-multiperson|npz --source PATH`` runs evaluator.importers' parser for that format
(trusted operator files: pickle only in the HumanData reader), writes our GT layout and imports it with the
benchmark's protocol (default: the one the format implies). ``--gt FILE`` and ``--humandata FILE`` remain as
shorthands for ``--format npz`` and ``--format humandata``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from evaluator.importers import IMPORT_FORMATS
from evaluator.protocols import available_protocols
from leaderboard.benchmarks.importing import ImportFailed, ImportRequest, key_value, run_import
from leaderboard.benchmarks.models import GT_PARTS


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
        parser.add_argument("--public-gt-splits", nargs="*", default=[], metavar="SPLIT",
                            help="splits whose GT is published anyway (e.g. a validation set): pictures of the worst "
                                 "samples there may show the GT mesh and per-vertex errors (default: none)")
        parser.add_argument("--ranking-split", help="split the leaderboard ranks by (default: test, else the first revealed)")
        parser.add_argument("--description", default="")
        parser.add_argument("--paper-url", default="")
        parser.add_argument("--data-url", default="")
        parser.add_argument("--display-order", type=int, default=100)

    def handle(self, *args, **opts) -> None:
        self.verbosity = opts["verbosity"]
        fmt, source = self._format_and_source(opts)
        request = ImportRequest(
            slug=opts["slug"], name=opts["name"], fmt=fmt, source=source, format_options=dict(opts["format_option"]),
            humandata_interval=opts["humandata_interval"], protocol=opts["protocol"],
            protocol_options=dict(opts["protocol_option"]), gt_parts=opts["gt_parts"],
            primary_metric=opts["primary_metric"], fill_missing=opts["fill_missing"], mpe=opts["mpe"],
            hand_mpe=opts["hand_mpe"], images=opts["images"], hidden_splits=opts["hidden_splits"],
            public_gt_splits=opts["public_gt_splits"],
            all_public=opts["all_public"], ranking_split=opts["ranking_split"], description=opts["description"],
            paper_url=opts["paper_url"], data_url=opts["data_url"], display_order=opts["display_order"],
        )
        try:
            run_import(request, self)
        except ImportFailed as exc:
            raise CommandError(str(exc)) from None

    # The reporter run_import talks to (importing.Reporter).
    def line(self, text: str, style: str = "") -> None:
        self.stdout.write(self.style.SUCCESS(text) if style == "success" else text)

    def stage(self, fraction: float, what: str) -> None:
        if self.verbosity > 1:
            self.stdout.write(f"  [{fraction:4.0%}] {what}")

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
