"""What a (re-)import changed for results already on the site, as lines for the host.

``snapshot(slug)`` runs before the import; ``describe(before, benchmark)`` after it (the score refresh runs
when the import commits). It names every submission whose stored aggregates moved (method, score, old -> new),
the results scored against a previous version of this benchmark's GT (they keep their numbers: nothing
re-evaluates stored predictions), and the results left on splits the import removed (no Split row: they
stay hidden, the rule being "hidden unless revealed").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from leaderboard.benchmarks.models import Benchmark

SCORES = (("mpe", "MPE"), ("hand_mpe", "hand MPE"), ("pa_hand_mpe", "PA hand MPE"))


@dataclass
class Snapshot:
    gt_sha256: str | None
    splits: set[str]
    scores: dict[int, tuple[str, dict[str, float | None]]] = field(default_factory=dict)


def snapshot(slug: str) -> Snapshot:
    from leaderboard.submissions.models import Status, Submission

    previous = Benchmark.objects.filter(slug=slug).first()
    rows = Submission.objects.filter(status=Status.FINISHED).values("pk", "method_name", *(f for f, _ in SCORES))
    return Snapshot(
        gt_sha256=previous.gt_sha256 if previous else None,
        splits=set(previous.splits.values_list("name", flat=True)) if previous else set(),
        scores={r["pk"]: (r["method_name"], {f: r[f] for f, _ in SCORES}) for r in rows},
    )


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def describe(before: Snapshot, benchmark: Benchmark) -> list[str]:
    from leaderboard.submissions.models import BenchmarkResult, Submission
    from leaderboard.submissions.scores import recompute_all_scores

    recompute_all_scores()  # normally done when the import committed (then a no-op); inside an outer transaction, now
    lines: list[str] = []
    results = BenchmarkResult.objects.filter(benchmark=benchmark)
    if before.gt_sha256 is not None and before.gt_sha256 != benchmark.gt_sha256 and results.exists():
        methods = sorted(set(results.values_list("submission__method_name", flat=True)))
        lines.append(f"  GT changed (sha256 {before.gt_sha256[:12]} -> {benchmark.gt_sha256[:12]}): {results.count()} "
                     f"result(s) of {', '.join(methods)} were scored against the previous GT and keep their numbers; "
                     "nothing re-evaluates stored predictions (the owners re-submit to be scored on the new GT).")
    elif before.gt_sha256 == benchmark.gt_sha256:
        lines.append("  GT unchanged (same sha256): stored results stay valid.")
    removed = sorted(before.splits - set(benchmark.splits.values_list("name", flat=True)))
    for name in removed:
        n = results.filter(split=name).count()
        lines.append(f"  split {name} removed by this import: {n} result(s) on it stay stored and hidden "
                     "(no split row: hidden unless revealed); re-import with the split to show them again.")
    after = {r["pk"]: r for r in Submission.objects.filter(pk__in=before.scores).values("pk", *(f for f, _ in SCORES))}
    changed = []
    for pk, (method, old) in sorted(before.scores.items()):
        moves = [f"{label} {_fmt(old[f])} -> {_fmt(after[pk][f])}" for f, label in SCORES
                 if pk in after and old[f] != after[pk][f]]
        if moves:
            changed.append(f"    #{pk} {method}: {'; '.join(moves)}")
    if changed:
        lines.append(f"  Re-scored ({len(changed)} submission(s); per-benchmark results unchanged, their aggregates moved):")
        lines.extend(changed)
    else:
        lines.append("  Re-scored: no stored MPE / hand MPE changed.")
    return lines
