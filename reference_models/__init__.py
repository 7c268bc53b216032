"""SMPLer-X / SMPLest-X re-implemented in PyTorch: models, data, losses, train and infer CLIs.

Written from the architecture description (``shared/spec/reference_evaluation.md`` beside the checkout, §5) and checked
against the official models (module names, shapes, forward outputs; see ``docs/reference_models.md``);
no code from the official repositories. Outputs use the leaderboard's prediction format (axis-angle
SMPL-X parameters + ``transl``).
"""
