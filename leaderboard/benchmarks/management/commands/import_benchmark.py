"""Create or update a benchmark from a ground-truth .npz (our format) or a HumanData .npz."""
from __future__ import annotations

import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from leaderboard.benchmarks.humandata import HumanDataError, convert_humandata
from leaderboard.benchmarks.services import BenchmarkImportError, BenchmarkSpec, import_ground_truth


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
        parser.add_argument("--hidden-splits", nargs="*", default=[], help="splits whose results stay hidden until revealed")
        parser.add_argument("--ranking-split", help="split the leaderboard ranks by (default: test, else the first revealed)")
        parser.add_argument("--description", default="")
        parser.add_argument("--paper-url", default="")
        parser.add_argument("--data-url", default="")
        parser.add_argument("--display-order", type=int, default=100)

    def handle(self, *args, **opts) -> None:
        spec = BenchmarkSpec(
            slug=opts["slug"], name=opts["name"], description=opts["description"], paper_url=opts["paper_url"],
            data_url=opts["data_url"], primary_metric=opts["primary_metric"], counts_toward_mpe=not opts["no_mpe"],
            counts_toward_hand_mpe=not opts["no_hand_mpe"], hidden_splits=opts["hidden_splits"],
            ranking_split=opts["ranking_split"], display_order=opts["display_order"],
        )
        try:
            if opts["humandata"] is not None:
                with tempfile.TemporaryDirectory() as tmp:
                    converted = Path(tmp) / "gt.npz"
                    count = convert_humandata(opts["humandata"], converted, settings.SMPLX_MODEL_DIR, sample_interval=opts["humandata_interval"])
                    self.stdout.write(f"Converted {count} HumanData samples.")
                    benchmark = import_ground_truth(converted, spec, opts["images"])
            else:
                benchmark = import_ground_truth(opts["gt"], spec, opts["images"])
        except (BenchmarkImportError, HumanDataError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from None
        splits = ", ".join(
            f"{s.name} ({s.num_samples}{', hidden' if not s.is_revealed else ''}{', ranking' if s.is_ranking else ''})"
            for s in benchmark.splits.all()
        )
        self.stdout.write(self.style.SUCCESS(f"Benchmark '{benchmark.slug}': {benchmark.num_samples} samples; splits: {splits}."))
