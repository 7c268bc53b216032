"""What a (re-)import changed for results already on the site: notes and every number that moved.

``snapshot(slug)`` runs before the import; ``describe(before, benchmark)`` after it (the score refresh runs
when the import commits). For every finished submission it compares, metric by metric, the stored aggregates
(MPE, hand MPE, PA hand MPE) and the submission's figure on this benchmark's board (the primary metric on the
revealed ranking split): ``ImportChanges.moves`` holds each (submission, metric, before, after) that differs.
It also notes results scored against a previous version of this benchmark's GT (they keep their numbers:
nothing re-evaluates stored predictions) and results left on splits the import removed (no Split row: they
stay hidden, the rule being "hidden unless revealed").
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

from leaderboard.benchmarks.models import Benchmark

SCORES = (("mpe", "MPE"), ("hand_mpe", "hand MPE"), ("pa_hand_mpe", "PA hand MPE"))
BOARD = "board"  # the per-submission key of the benchmark-board figure beside SCORES


@dataclass(frozen=True)
class BoardFigure:
    """Where this benchmark's board reads a submission's figure: its primary metric on the revealed ranking split."""
    metric: str
    split: str | None  # None: no revealed ranking split, the board shows nothing

    def label(self, slug: str) -> str:
        return f"{slug} board ({self.metric} on {self.split or 'no revealed split'})"


@dataclass
class Snapshot:
    gt_sha256: str | None
    splits: set[str]
    board: BoardFigure | None
    scores: dict[int, tuple[str, dict[str, float | None]]] = field(default_factory=dict)


@dataclass(frozen=True)
class ScoreMove:
    """One number of one earlier submission that this import moved."""
    submission_id: int
    method: str
    metric: str
    before: float | None
    after: float | None


@dataclass
class ImportChanges:
    notes: list[str]
    moves: list[ScoreMove]

    def lines(self) -> list[str]:
        """The report as text lines: the notes, then per submission each metric ``before -> after``."""
        lines = [f"  {note}" for note in self.notes]
        if not self.moves:
            return lines + ["  Re-scored: no stored MPE / hand MPE or board figure changed."]
        by_submission: dict[tuple[int, str], list[ScoreMove]] = {}
        for move in self.moves:
            by_submission.setdefault((move.submission_id, move.method), []).append(move)
        lines.append(f"  Re-scored ({len(by_submission)} submission(s); their stored per-benchmark results keep their "
                     "numbers, what is derived from them moved):")
        for (pk, method), moves in by_submission.items():
            lines.append(f"    #{pk} {method}: " + "; ".join(f"{m.metric} {_fmt(m.before)} -> {_fmt(m.after)}" for m in moves))
        return lines

    def to_json(self) -> dict:
        return {"notes": self.notes, "moves": [asdict(m) for m in self.moves]}


def _board_figure(benchmark: Benchmark | None) -> BoardFigure | None:
    if benchmark is None:
        return None
    split = benchmark.ranking_split
    return BoardFigure(benchmark.primary_metric, split.name if split else None)


def _board_values(benchmark: Benchmark | None, figure: BoardFigure | None) -> dict[int, float | None]:
    from leaderboard.submissions.models import BenchmarkResult, Status

    if benchmark is None or figure is None or figure.split is None:
        return {}
    rows = BenchmarkResult.objects.filter(benchmark=benchmark, split=figure.split, submission__status=Status.FINISHED)
    return {pk: metrics.get(figure.metric) for pk, metrics in rows.values_list("submission_id", "metrics")}


def _scores(benchmark: Benchmark | None, figure: BoardFigure | None,
            pks: list[int] | None = None) -> dict[int, tuple[str, dict[str, float | None]]]:
    from leaderboard.submissions.models import Status, Submission

    rows = Submission.objects.filter(status=Status.FINISHED)
    if pks is not None:
        rows = rows.filter(pk__in=pks)
    board = _board_values(benchmark, figure)
    return {r["pk"]: (r["method_name"], {**{f: r[f] for f, _ in SCORES}, BOARD: board.get(r["pk"])})
            for r in rows.values("pk", "method_name", *(f for f, _ in SCORES))}


def snapshot(slug: str) -> Snapshot:
    previous = Benchmark.objects.filter(slug=slug).first()
    figure = _board_figure(previous)
    return Snapshot(
        gt_sha256=previous.gt_sha256 if previous else None,
        splits=set(previous.splits.values_list("name", flat=True)) if previous else set(),
        board=figure,
        scores=_scores(previous, figure),
    )


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def _board_label(slug: str, before: BoardFigure | None, after: BoardFigure | None) -> str:
    if before is None or before == after:
        return after.label(slug) if after else f"{slug} board"
    return f"{slug} board ({before.metric} on {before.split or 'no revealed split'} -> " \
           f"{after.metric if after else '?'} on {(after.split if after else None) or 'no revealed split'})"


def describe(before: Snapshot, benchmark: Benchmark) -> ImportChanges:
    from leaderboard.submissions.models import BenchmarkResult
    from leaderboard.submissions.scores import recompute_all_scores

    recompute_all_scores()  # normally done when the import committed (then a no-op); inside an outer transaction, now
    notes: list[str] = []
    results = BenchmarkResult.objects.filter(benchmark=benchmark)
    if before.gt_sha256 is not None and before.gt_sha256 != benchmark.gt_sha256 and results.exists():
        methods = sorted(set(results.values_list("submission__method_name", flat=True)))
        notes.append(f"GT changed (sha256 {before.gt_sha256[:12]} -> {benchmark.gt_sha256[:12]}): {results.count()} "
                     f"result(s) of {', '.join(methods)} were scored against the previous GT and keep their numbers; "
                     "nothing re-evaluates stored predictions (the owners re-submit to be scored on the new GT).")
    elif before.gt_sha256 == benchmark.gt_sha256:
        notes.append("GT unchanged (same sha256): stored results stay valid.")
    removed = sorted(before.splits - set(benchmark.splits.values_list("name", flat=True)))
    for name in removed:
        n = results.filter(split=name).count()
        notes.append(f"split {name} removed by this import: {n} result(s) on it stay stored and hidden "
                     "(no split row: hidden unless revealed); re-import with the split to show them again.")
    figure = _board_figure(benchmark)
    after = _scores(benchmark, figure, list(before.scores))
    labels = {**dict(SCORES), BOARD: _board_label(benchmark.slug, before.board, figure)}
    moves = [ScoreMove(pk, method, labels[key], old[key], after[pk][1][key])
             for pk, (method, old) in sorted(before.scores.items()) if pk in after
             for key in labels if old[key] != after[pk][1][key]]
    return ImportChanges(notes, moves)
