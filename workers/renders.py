"""Failure renders (issue 22 §4): once a predictions submission finished, draw its worst samples.

A step after scoring that leaves the pipeline modules (``workers.pipeline`` <-> ``workers.tasks``) as they are:
``queue_renders`` listens to ``events.submission_finalised`` (as ``workers.notify``; connected in the submissions
app's ``ready``) and queues ``render_worst_samples`` on the finalize queue once the finish is committed. A split
revealed later, or given public GT, (``benchmarks.events.splits_opened``) has its results' pictures drawn again by
``queue_split_renders``, for that benchmark only. What is drawn
and what each picture may show is decided by ``leaderboard.submissions.failure_renders``; this module only loads the
meshes (GT only for pictures that may show it) and calls ``evaluator.render``. A failure here is logged and leaves
the submission's results alone. torch is imported inside the task: the web process imports this module.
"""
from __future__ import annotations

import logging

import numpy as np
from celery import shared_task
from django.conf import settings

from leaderboard.benchmarks.events import splits_opened  # bare Signals: importable before Django's apps
from leaderboard.submissions.events import submission_finalised
from workers.notify import queue_after_commit

log = logging.getLogger(__name__)


def queue_renders(sender, submission, **kwargs) -> None:
    """Queue the pictures of a predictions submission that just finished, once that is committed."""
    from leaderboard.submissions.models import Status, SubmissionKind

    if submission.status != Status.FINISHED or submission.kind != SubmissionKind.PREDICTIONS:
        return  # model runs on held-out images: aggregates only, never a picture
    queue_after_commit(render_worst_samples, submission.pk, "failure renders")


def queue_split_renders(sender, split_ids: list[int], **kwargs) -> None:
    """Draw again, on each split's benchmark, the finished predictions submissions with results on those splits."""
    from leaderboard.benchmarks.models import Split
    from leaderboard.submissions.models import BenchmarkResult, Status, SubmissionKind

    for split in Split.objects.filter(pk__in=split_ids).select_related("benchmark"):
        results = BenchmarkResult.objects.filter(
            benchmark=split.benchmark, split=split.name, submission__status=Status.FINISHED,
            submission__kind=SubmissionKind.PREDICTIONS)
        for submission_id in results.values_list("submission_id", flat=True).distinct().order_by("submission_id"):
            queue_after_commit(render_worst_samples, submission_id, "failure renders", [split.benchmark.slug])


def connect() -> None:
    submission_finalised.connect(queue_renders, dispatch_uid="workers.renders.queue_renders")
    splits_opened.connect(queue_split_renders, dispatch_uid="workers.renders.queue_split_renders")


def draw(submission, benchmark, jobs) -> list[bytes]:
    """The PNG of each job (``failure_renders.RenderJob``), in order."""
    from evaluator import render
    from leaderboard.storage import GROUND_TRUTH, PRIVATE, local_path
    from workers.evaluation import body_model

    protocol = benchmark.get_protocol()
    gt = protocol.load_gt(local_path(GROUND_TRUTH, benchmark.gt_path))
    pred = protocol.load_predictions(local_path(PRIVATE, submission.predictions_name(benchmark.slug)), gt)
    position = {sample_id: i for i, sample_id in enumerate(gt.sample_ids.tolist())}
    rows = np.array([position[job.sample_id] for job in jobs], dtype=np.int64)
    body = body_model()
    predicted = render.pelvis_aligned(body, pred, protocol.prediction_index(gt, pred)[rows])
    shows_gt = np.array([job.shows_gt for job in jobs], dtype=bool)
    # GT meshes are built only for the pictures that may show them (public-GT splits).
    truth = dict(zip(np.flatnonzero(shows_gt), render.pelvis_aligned(body, gt, rows[shows_gt]))) if shows_gt.any() else {}
    faces = body.layer.faces_tensor.cpu().numpy()
    ids = render.part_ids(predicted.shape[1], *(getattr(body.assets, k).cpu().numpy()
                                                for k in ("left_hand", "right_hand", "face")))
    return [render.render_vertex_errors(predicted[i], truth[i], faces, ids) if job.shows_gt
            else render.render_part_errors(predicted[i], faces, ids, job.part_values)
            for i, job in enumerate(jobs)]


@shared_task(bind=True, name="workers.renders.render_worst_samples", acks_late=True,
             time_limit=settings.EVAL_FINALIZE_TIME_LIMIT_S)
def render_worst_samples(self, submission_id: int, benchmark_slugs: list[str] | None = None) -> dict:
    """Draw and store the worst samples of every benchmark (of ``benchmark_slugs`` if given) the finished submission
    has results on."""
    from leaderboard.benchmarks.models import Benchmark
    from leaderboard.submissions import failure_renders
    from leaderboard.submissions.models import Status, Submission
    from leaderboard.submissions.per_sample import PerSampleUnavailable

    submission = Submission.objects.filter(pk=submission_id, status=Status.FINISHED).first()
    if submission is None:
        return {"skipped": "not finished"}
    drawn: dict[str, int] = {}
    benchmarks = Benchmark.objects.filter(results__submission=submission)
    if benchmark_slugs is not None:
        benchmarks = benchmarks.filter(slug__in=benchmark_slugs)
    for benchmark in benchmarks.distinct().order_by("slug"):
        try:
            jobs = failure_renders.render_jobs(submission, benchmark)
        except PerSampleUnavailable:
            continue  # a model run, no revealed split, or no per-sample values: nothing may be drawn
        try:
            failure_renders.store_renders(submission, benchmark, jobs, draw(submission, benchmark, jobs))
        except Exception:  # one benchmark's pictures must not keep the others from being drawn
            log.exception("failure renders of submission %s on %s", submission.uuid, benchmark.slug)
            continue
        drawn[benchmark.slug] = len(jobs)
    return {"drawn": drawn}
