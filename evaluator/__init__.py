"""EHPS Leaderboard evaluator: SMPL-X whole-body metrics (SMPLer-X / SMPLest-X recipes).

Pure library (torch, numpy, smplx; never Django). Entry points:
``formats.load_sample_set`` / ``match_samples``, ``body_model.load_body_model``,
``scoring.score_samples`` -> ``metrics.MetricSums``, ``mpe.mean_primary_error``, and the CLI
``python -m evaluator``. See docs/formats.md and docs/metrics.md.
"""
