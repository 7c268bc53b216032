"""Keep stored scores current: any change to what defines MPE / hand MPE refreshes them after commit.

A Benchmark's flags, primary metric, protocol, parts or activity, and a Split's reveal/ranking state, define
which results each score averages (leaderboard.submissions.scores). Rather than guessing which field changed,
every save or delete of either refreshes all scores once per transaction (benchmarks change rarely; the refresh
is a few queries). Bulk ``QuerySet.update`` calls bypass signals: their callers call ``schedule_score_refresh``.
"""
from __future__ import annotations

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from leaderboard.benchmarks.models import Benchmark, Split
from leaderboard.submissions.scores import schedule_score_refresh


@receiver(post_save, sender=Benchmark, dispatch_uid="scores-benchmark-saved")
@receiver(post_delete, sender=Benchmark, dispatch_uid="scores-benchmark-deleted")
@receiver(post_save, sender=Split, dispatch_uid="scores-split-saved")
@receiver(post_delete, sender=Split, dispatch_uid="scores-split-deleted")
def _definition_changed(sender, raw: bool = False, **kwargs) -> None:
    if raw:  # loaddata: the stored scores travel with the fixture
        return
    schedule_score_refresh()
