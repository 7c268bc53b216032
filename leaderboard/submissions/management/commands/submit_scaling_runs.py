"""Put the checkpoints of ``python -m reference_models.scaling`` on the board as computed baselines."""
from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ehps_client.hashing import file_sha256
from leaderboard.benchmarks.models import Benchmark
from leaderboard.submissions.baselines import BaselineError, submit_reference_model, user_named
from leaderboard.submissions.models import BaselineSource, Submission
from leaderboard.submissions.quotas import QuotaExceeded
from leaderboard.submissions.uploads import UploadError


def scaling_runs(scaling_dir: Path) -> tuple[dict, list[dict]]:
    """(grid, every run of ``scaling.json``: the grid's runs, then the ``--per-dataset`` ones)."""
    path = scaling_dir / "scaling.json"
    try:
        result = json.loads(path.read_text())
        return result["grid"], [*result["runs"], *result.get("per_dataset", [])]
    except FileNotFoundError:
        raise CommandError(f"{path} does not exist: run `python -m reference_models.scaling --out-dir "
                           f"{scaling_dir}` first.") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise CommandError(f"{path} is not a scaling study result ({exc}).") from None


def run_checkpoint(scaling_dir: Path, run: dict) -> Path:
    """The run's ``last.pth``: where scaling.json says, else under this folder (the study may have moved)."""
    recorded = Path(run.get("checkpoint", ""))
    return recorded if recorded.is_file() else scaling_dir / "runs" / run["run"] / "last.pth"


class Command(BaseCommand):
    help = (
        "Submit every checkpoint of a scaling study (python -m reference_models.scaling; its scaling.json) as a "
        "computed baseline row, run on this host's benchmarks with held-out images (or --benchmark ones), each "
        "recording its provenance (checkpoint sha256, code commit, config, the scaling run: datasets, strategy, "
        "seed, steps) and measured ms/image and parameters. A checkpoint already on the board is skipped."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scaling-dir", type=Path, default=Path("var/reference_models/scaling"),
                            help="the study's --out-dir (holds scaling.json and runs/<name>/last.pth)")
        parser.add_argument("--benchmark", action="append", help="benchmark slug to run on (repeat); default: "
                                                                  "every benchmark with held-out images")
        parser.add_argument("--run", action="append", help="only this run (repeat); default: all")
        parser.add_argument("--owner", help="username to submit as (default: the system user 'baselines', which has "
                                            "the normal quotas; a staff account has none)")
        parser.add_argument("--device", default="cpu")

    def handle(self, *args, **opts) -> None:
        grid, runs = scaling_runs(opts["scaling_dir"])
        if opts["run"]:
            unknown = sorted(set(opts["run"]) - {r["run"] for r in runs})
            if unknown:
                raise CommandError(f"No run named {', '.join(unknown)} in the study.")
            runs = [r for r in runs if r["run"] in opts["run"]]
        slugs = opts["benchmark"] or list(Benchmark.objects.exclude(images_path="").values_list("slug", flat=True))
        if not slugs:
            raise CommandError("No benchmark on this host has held-out images to run the models on.")
        try:
            owner = user_named(opts["owner"])
        except BaselineError as exc:
            raise CommandError(str(exc)) from None
        for run in runs:
            checkpoint = run_checkpoint(opts["scaling_dir"], run)
            if not checkpoint.is_file():
                raise CommandError(f"Run {run['run']}: its checkpoint {checkpoint} does not exist.")
            done = Submission.objects.filter(baseline_source=BaselineSource.COMPUTED,
                                             checkpoint_sha256=file_sha256(checkpoint)).first()
            if done is not None:
                self.stdout.write(f"{run['run']}: already on the board as '{done.method_name}' ({done.uuid}).")
                continue
            extra = {"scaling_run": {"run": run["run"], "datasets": run["datasets"], "strategy": run["strategy"],
                                     "seed": run["seed"], "steps": grid.get("steps"), "batch_size": grid.get("batch_size"),
                                     "study_mpe_mm": run.get("mpe")}}
            try:
                submission = submit_reference_model(checkpoint, slugs, method_name=f"SMPLer-X tiny scaling {run['run']}",
                                                    owner=owner, device=opts["device"], extra_provenance=extra)
            except (BaselineError, UploadError, QuotaExceeded) as exc:
                raise CommandError(f"Run {run['run']}: {exc}") from None
            self.stdout.write(f"{run['run']}: submitted '{submission.method_name}' ({submission.uuid}) on "
                              f"{', '.join(slugs)}.")
