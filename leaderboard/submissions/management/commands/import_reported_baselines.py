"""Create or update the leaderboard rows of published ('reported') baseline figures."""
from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from leaderboard.submissions.baselines import BaselineError, import_reported_baselines


def parse_mapping(pairs: list[str]) -> dict[str, str]:
    mapping = {}
    for pair in pairs:
        key, sep, slug = pair.partition("=")
        if not sep or not key or not slug:
            raise CommandError(f"--benchmark-map expects PUBLISHED=SLUG (e.g. ubody=ubody-test), got {pair!r}.")
        mapping[key] = slug
    return mapping


class Command(BaseCommand):
    help = (
        "Import the published SMPLer-X / SMPLest-X figures (reference_models/baselines.py) as finished, public "
        "'reported' leaderboard rows owned by the system user 'baselines'. Idempotent (keyed by method name + "
        "source). Per-benchmark figures go to the benchmark with the same slug, or the one given by --benchmark-map."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--benchmark-map", action="append", default=[], metavar="PUBLISHED=SLUG",
                            help="put a published benchmark's figures (e.g. ubody) on this server's benchmark SLUG")

    def handle(self, *args, **opts) -> None:
        try:
            report = import_reported_baselines(parse_mapping(opts["benchmark_map"]))
        except BaselineError as exc:
            raise CommandError(str(exc)) from None
        for row in report.rows:
            where = f"benchmark '{row.benchmark}'" if row.benchmark else "MPE"
            self.stdout.write(f"{'created' if row.created else 'updated'}: {row.method_name} ({where})")
        for key, why in report.skipped.items():
            self.stdout.write(self.style.WARNING(f"skipped published '{key}' figures: {why} (see --benchmark-map)"))
        self.stdout.write(self.style.SUCCESS(f"{len(report.rows)} reported baseline row(s) in place."))
