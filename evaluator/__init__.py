"""EHPS Leaderboard evaluator: SMPL-X whole-body metrics (SMPLer-X / SMPLest-X recipes).

Pure library (torch, numpy, smplx; never Django). Entry points:
``protocols.get_protocol`` (named, versioned recipes: smplx-generic, ehf, agora-val, 3dpw, ubody),
``formats.load_sample_set`` / ``match_samples``, ``body_model.load_body_model``,
``scoring.score_samples`` -> ``sums.MetricSums``, ``mpe.mean_primary_error``, and the CLI
``python -m evaluator``. See docs/formats.md and docs/metrics.md.
"""

# Bump when any number the evaluator prints may change (protocols carry their own versions too).
__version__ = "2.0.0"
