from pathlib import Path

from django.core.management.base import BaseCommand

from leaderboard.benchmarks.demo import create_demo_benchmarks, default_predictions_dir, remove_demo_benchmarks


class Command(BaseCommand):
    help = ("Create the synthetic demo benchmarks that are missing (and the synthetic SMPL-X model) and example predictions. "
            "Existing ones are kept as they are (split flags included) unless --refresh. They count toward MPE only "
            "while no real benchmark does, and are listed after real ones. --remove deletes them (and their results).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--refresh", action="store_true", help="re-import them, resetting their splits and flags")
        parser.add_argument("--remove", action="store_true",
                            help="delete the demo benchmarks, their results and GT files (e.g. once real ones exist)")
        parser.add_argument("--predictions-dir", type=Path, help=f"where example predictions go (default {default_predictions_dir()})")

    def handle(self, *args, **opts) -> None:
        if opts["remove"]:
            removed = remove_demo_benchmarks()
            self.stdout.write(f"Removed {', '.join(removed)} (and their results)." if removed else "No demo benchmarks to remove.")
            return
        out = opts["predictions_dir"] or default_predictions_dir()
        for benchmark in create_demo_benchmarks(out, refresh=opts["refresh"]):
            splits = ", ".join(f"{s.name}{' (hidden)' if not s.is_revealed else ''}" for s in benchmark.splits.all())
            in_mpe = "in MPE" if benchmark.counts_toward_mpe else "not in MPE"
            self.stdout.write(f"{benchmark.slug}: {benchmark.num_samples} samples, splits {splits}; {in_mpe}")
        self.stdout.write(self.style.SUCCESS(f"Example predictions in {out}"))
