"""Run a reference model on a benchmark's held-out images and submit its predictions as a 'computed' baseline."""
from __future__ import annotations

import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from leaderboard.submissions.baselines import BaselineError, submit_reference_model, user_named
from leaderboard.submissions.models import Submission
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.uploads import UploadError

POLL_SECONDS = 2.0


class Command(BaseCommand):
    help = (
        "Run a reference_models checkpoint on BENCHMARK's held-out images (the server's copy; never the GT) and submit "
        "the predictions through the normal upload path (validation, quotas, evaluation pipeline) as a public "
        "'computed' baseline recording its provenance (checkpoint sha256, code commit, config) and its measured "
        "ms/image, peak memory, device and parameters. A whole-image benchmark runs it behind the detector stage; "
        "on a models-only benchmark the row is stored as the server's own run (scored by the same pipeline). "
        "Benchmarks without images cannot run a model."
    )

    def add_arguments(self, parser) -> None:
        from reference_models.models import ARCHS
        from reference_models.vit import VIT_SIZES

        parser.add_argument("--checkpoint", type=Path, required=True,
                            help="reference_models checkpoint (train.py output) or official weights with --arch/--size")
        parser.add_argument("--arch", choices=sorted(ARCHS), help="needed for official weights; checked against ours")
        parser.add_argument("--size", choices=list(VIT_SIZES), help="needed for official weights; checked against ours")
        parser.add_argument("--benchmark", required=True, action="append",
                            help="benchmark slug (must have held-out images); repeat for several (one submission)")
        parser.add_argument("--method-name", help="leaderboard name (default: architecture, size and checkpoint hash)")
        parser.add_argument("--citation", help="shown under the method name (default: the architecture's paper)")
        parser.add_argument("--owner", help="username to submit as (default: the system user 'baselines'); "
                                            "staff accounts are exempt from quotas")
        parser.add_argument("--batch-size", type=int, default=16)
        parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
        parser.add_argument("--wait", action="store_true", help="wait until the evaluation is final and print the scores")
        parser.add_argument("--timeout", type=float, default=3600.0, help="seconds --wait waits at most")

    def handle(self, *args, **opts) -> None:
        import torch

        device = opts["device"] or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            owner = user_named(opts["owner"])
            submission = submit_reference_model(
                opts["checkpoint"], opts["benchmark"], arch=opts["arch"], size=opts["size"],
                method_name=opts["method_name"], citation=opts["citation"], owner=owner,
                batch_size=opts["batch_size"], device=device, progress=opts["verbosity"] > 1,
            )
        except (BaselineError, UploadError, QuotaExceeded) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"Submitted '{submission.method_name}' ({submission.uuid}) on {', '.join(opts['benchmark'])}: "
                          f"{submission.get_status_display().lower()}.")
        if opts["wait"]:
            submission = self.wait(submission, opts["timeout"])
        self.report(submission)

    def wait(self, submission: Submission, timeout: float) -> Submission:
        deadline = time.monotonic() + timeout
        while not submission.is_final:
            if time.monotonic() > deadline:
                raise CommandError(f"Submission {submission.uuid} is still {submission.status} after {timeout:g} s "
                                   "(are the workers running?).")
            time.sleep(POLL_SECONDS)
            submission.refresh_from_db()
        return submission

    def report(self, submission: Submission) -> None:
        if submission.status == "failed":
            raise CommandError(f"Evaluation failed: {submission.error_message}")
        for result in submission.results.select_related("benchmark"):
            value = "—" if result.primary_value is None else f"{result.primary_value:.1f} mm"
            self.stdout.write(f"  {result.benchmark.slug}/{result.split}: {result.benchmark.primary_metric} {value} "
                              f"({result.num_samples} samples)")
        if submission.status == "finished":
            mpe = "—" if submission.mpe is None else f"{submission.mpe:.1f} mm"
            self.stdout.write(self.style.SUCCESS(f"Finished. MPE {mpe}."))
