"""Exceptions the worker tasks use to end a submission's work (no Django or Celery imports)."""


class SubmissionInvalid(Exception):
    """A problem with what the user submitted; the message is shown to them."""


class RunSuperseded(Exception):
    """The model run must stop without a verdict: the submission was cancelled or failed meanwhile, or a
    newer attempt of it (a re-delivered task) took over."""
