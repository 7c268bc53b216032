"""Create or update a benchmark from a ground-truth .npz (our format) or a HumanData .npz."""
from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluator.formats import DEFAULT_SPLIT
from leaderboard.benchmarks.demo import DEMO_SLUGS, exclude_demo_from_mpe
from leaderboard.benchmarks.humandata import HumanDataError, convert_humandata
from leaderboard.benchmarks.services import BenchmarkImportError, BenchmarkSpec, import_ground_truth


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
        source.add_argument("--gt", type=Path, help="ground truth in our format (see docs/formats.md)")
        source.add_argument(
            "--humandata", type=Path,
            help="trusted HumanData .npz (SMPLer-X test annotations); read with allow_pickle=True, operators only",
        )
        parser.add_argument("--humandata-interval", type=int, default=1, help="keep every k-th HumanData row")
        parser.add_argument("--primary-metric", default="mpvpe_all")
        parser.add_argument("--no-mpe", action="store_true", help="do not average this benchmark into MPE")
        parser.add_argument("--no-hand-mpe", action="store_true", help="no hand GT: leave out of hand MPE")
        parser.add_argument("--images", type=Path, help="model input folder (manifest.json + images/) for model submissions")
        parser.add_argument(
            "--hidden-splits", nargs="*", default=None, metavar="SPLIT",
            help="splits whose results stay hidden (staff only) until revealed; default: every split named test*; "
                 "give the option with no names to reveal every split",
        )
        parser.add_argument("--ranking-split", help="split the leaderboard ranks by (default: test, else the first revealed)")
        parser.add_argument("--description", default="")
        parser.add_argument("--paper-url", default="")
        parser.add_argument("--data-url", default="")
        parser.add_argument("--display-order", type=int, default=100)

    def handle(self, *args, **opts) -> None:
        self._opts = opts
        try:
            if opts["humandata"] is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    converted = Path(tmp) / "gt.npz"
                    count = convert_humandata(opts["humandata"], converted, settings.SMPLX_MODEL_DIR, sample_interval=opts["humandata_interval"])
                    self.stdout.write(f"Converted {count} HumanData samples.")
                    benchmark = import_ground_truth(converted, self._spec(converted), opts["images"])
            else:
                benchmark = import_ground_truth(opts["gt"], self._spec(opts["gt"]), opts["images"])
        except (BenchmarkImportError, HumanDataError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        self._report(benchmark)

    def _spec(self, gt_path: Path) -> BenchmarkSpec:
        opts = self._opts
        hidden = opts["hidden_splits"]
        if hidden is None:  # safe default: a test split stays hidden until the host reveals it
            hidden = [name for name in gt_split_names(gt_path) if name.startswith("test")]
        return BenchmarkSpec(
            slug=opts["slug"], name=opts["name"], description=opts["description"], paper_url=opts["paper_url"],
            data_url=opts["data_url"], primary_metric=opts["primary_metric"], counts_toward_mpe=not opts["no_mpe"],
            counts_toward_hand_mpe=not opts["no_hand_mpe"], hidden_splits=hidden,
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
        self.stdout.write(f"  MPE: {'counts' if benchmark.counts_toward_mpe else 'not counted'}; "
                          f"hand MPE: {'counts' if benchmark.counts_toward_hand_mpe else 'not counted'}.")
        if any(not s.is_revealed for s in splits):
            self.stdout.write("  Reveal a split in the admin (Splits -> 'Reveal the selected splits...'), or re-import "
                              "with --hidden-splits listing only the splits to keep hidden.")
        if benchmark.counts_toward_mpe and benchmark.slug not in DEMO_SLUGS:
            demoted = exclude_demo_from_mpe()
            if demoted:
                self.stdout.write(f"  The demo benchmarks {', '.join(sorted(demoted))} no longer count toward MPE "
                                  "(synthetic data; a real benchmark does now).")
