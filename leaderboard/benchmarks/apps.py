from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    name = "leaderboard.benchmarks"
    label = "benchmarks"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from leaderboard.benchmarks.models import Benchmark

        post_save.connect(_default_phase, sender=Benchmark, dispatch_uid="benchmarks-default-phase")


def _default_phase(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """A new benchmark gets one open-ended phase, so it behaves as benchmarks did before phases."""
    if created and not raw:
        from leaderboard.benchmarks.phases import ensure_default_phase

        ensure_default_phase(instance)
