from pathlib import Path

from django.core.management.base import BaseCommand

from leaderboard.benchmarks.demo import create_demo_benchmarks, default_predictions_dir


class Command(BaseCommand):
    help = "Create the synthetic demo benchmarks (and the synthetic SMPL-X model if missing) and example predictions. Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--predictions-dir", type=Path, help=f"where example predictions go (default {default_predictions_dir()})")

    def handle(self, *args, **opts) -> None:
        out = opts["predictions_dir"] or default_predictions_dir()
        for benchmark in create_demo_benchmarks(out):
            splits = ", ".join(f"{s.name}{' (hidden)' if not s.is_revealed else ''}" for s in benchmark.splits.all())
            self.stdout.write(f"{benchmark.slug}: {benchmark.num_samples} samples, splits {splits}")
        self.stdout.write(self.style.SUCCESS(f"Example predictions in {out}"))
