"""Sandboxed execution of model submissions (see docs/model_submissions.md for the user-facing contract).

Two kinds of artifact:

- ``"oci"``: a container image archive (``podman save`` / ``docker save``, or a rootfs tar with an
  executable ``/entrypoint``), run by `OciRunner` through the podman (or docker) CLI.
- ``"archive"``: a ``.zip`` with ``manifest.json`` and a TorchScript ``model.pt``, run by our trusted
  entry script inside bubblewrap (`BubblewrapRunner`).

The caller (the Celery task) does::

    from workers.runners import RunHooks, RunLimits, run_model_submission
    result = run_model_submission("oci", upload_path, input_dir, work_dir, RunLimits(time_s=1800, gpu=has_gpu),
                                  RunHooks(should_stop=cancelled, labels={"submission": "42"}))
    if not result.ok:
        fail(result.error)                 # user-facing (our words only); result.log_tail is for staff only
    sample_set = evaluator.formats.load_sample_set(result.predictions_path)   # FormatError -> fail
    # ... then copy it to Submission.predictions_name(slug) and evaluate as an uploaded file.

``input_dir`` holds ``manifest.json`` + ``images/`` (from `evaluator.image_benchmark.make_image_benchmark`
or a stored benchmark); it is copied to ``work_dir/input`` and the copy is bound read-only (the stored
folder keeps its modes, and its path never shows inside the sandbox). ``work_dir`` must be a fresh,
private folder (the model archive is extracted there and ``work_dir/output`` is created); delete it
after copying the predictions (`workers.runners.rundirs` makes such folders and reaps the orphans). Failures that are the submission's fault come back as
``RunResult(ok=False, error=...)`` or, before the run starts (unreadable upload), as `ModelRunError`;
anything else is a bug or a broken worker and propagates.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from workers.runners import rundirs
from workers.runners.base import ModelRunError, ModelRunner, RunHooks, RunLimits, RunResult
from workers.runners.bubblewrap import BubblewrapRunner
from workers.runners.podman import OciConfig, OciRunner

RUNNER_KINDS = ("oci", "archive")

__all__ = [
    "RUNNER_KINDS", "BubblewrapRunner", "ModelRunError", "ModelRunner", "OciConfig", "OciRunner", "RunHooks",
    "RunLimits", "RunResult", "get_runner", "reap_orphans", "run_model_submission", "runner_available",
]


def get_runner(kind: str) -> ModelRunner:
    """A runner for ``kind`` (``"oci"`` or ``"archive"``), configured from the environment."""
    if kind == "oci":
        return OciRunner()
    if kind == "archive":
        return BubblewrapRunner()
    raise ValueError(f"unknown model runner kind {kind!r}; expected one of {RUNNER_KINDS}")


def runner_available(kind: str) -> tuple[bool, str]:
    """Whether this machine can run ``kind`` submissions, with the reason when it cannot."""
    return get_runner(kind).available()


def run_model_submission(kind: str, artifact_path: Path, input_dir: Path, work_dir: Path,
                         limits: RunLimits | None = None, hooks: RunHooks | None = None) -> RunResult:
    """Run one submitted model on ``input_dir``; see the module docstring for the contract."""
    return get_runner(kind).run(Path(artifact_path), Path(input_dir), Path(work_dir), limits or RunLimits(), hooks)


def reap_orphans(work_root: Path) -> list[rundirs.RunOwner | None]:
    """Remove what runs of dead worker processes left on this host: podman stores (with their still
    running containers), bubblewrap staging folders and work folders under ``work_root``.
    Returns the owners (their labels)."""
    reaped = rundirs.reap(Path(work_root)) + BubblewrapRunner().reap_orphans()
    oci = OciRunner()
    if oci.config.private_stores and shutil.which(oci.config.cli):
        reaped += oci.reap_orphans()
    return reaped
