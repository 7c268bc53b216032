"""Signals the submission models send; receivers live above them (``workers.notify``), so models import nothing
that imports models back."""
from django.dispatch import Signal

# Sent by ``Submission.transition`` with ``submission=`` once a submission became finished, failed or cancelled
# (inside the caller's transaction: receivers that act outside the database wait for the commit).
submission_finalised = Signal()
