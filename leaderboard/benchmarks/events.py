"""Signals about benchmarks; receivers live above them (``workers.renders``), so models import nothing that imports
models back."""
from django.dispatch import Signal

# Sent with ``split_ids=`` once splits were revealed or marked as having public ground truth (by a save, which
# ``apps._split_saved`` compares with the stored row, or by the admin's bulk reveal): what may be drawn of results on
# them changed, so the failure pictures are drawn again. Inside the caller's transaction: receivers wait for the commit.
splits_opened = Signal()
