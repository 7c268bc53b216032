"""SMPLer-X / SMPLest-X re-implemented in PyTorch: models, data, losses, train and infer CLIs.

Written from the architecture description in ``/work/shared/spec/reference_evaluation.md`` §5; no code
from the official repositories. Outputs use the leaderboard's prediction format (axis-angle SMPL-X
parameters + ``transl``), see ``docs/reference_models.md``.
"""
