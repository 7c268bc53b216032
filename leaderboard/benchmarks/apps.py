from django.apps import AppConfig


class BenchmarksConfig(AppConfig):
    name = "leaderboard.benchmarks"
    label = "benchmarks"

    def ready(self) -> None:
        from django.db.models.signals import post_save, pre_save

        from leaderboard.benchmarks.models import Benchmark, Split

        post_save.connect(_default_phase, sender=Benchmark, dispatch_uid="benchmarks-default-phase")
        pre_save.connect(_split_saving, sender=Split, dispatch_uid="benchmarks-split-saving")
        post_save.connect(_split_saved, sender=Split, dispatch_uid="benchmarks-split-saved")


def _default_phase(sender, instance, created: bool, raw: bool = False, **kwargs) -> None:
    """A new benchmark gets one open-ended phase, so it behaves as benchmarks did before phases."""
    if created and not raw:
        from leaderboard.benchmarks.phases import ensure_default_phase

        ensure_default_phase(instance)


def _split_saving(sender, instance, raw: bool = False, **kwargs) -> None:
    """Remember what the stored row showed (revealed, public GT), for ``_split_saved`` to compare."""
    stored = None if raw or instance.pk is None else (
        sender.objects.filter(pk=instance.pk).values_list("is_revealed", "public_ground_truth").first())
    instance._opened_before = stored or (False, False)


def _split_saved(sender, instance, raw: bool = False, **kwargs) -> None:
    """``events.splits_opened`` when this save revealed the split or turned its public-GT flag on."""
    if raw:
        return
    was_revealed, had_public_gt = getattr(instance, "_opened_before", (True, True))
    if (instance.is_revealed and not was_revealed) or (instance.public_ground_truth and not had_public_gt):
        from leaderboard.benchmarks.events import splits_opened

        splits_opened.send(sender, split_ids=[instance.pk])
