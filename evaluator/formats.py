"""Ground-truth and prediction files (.npz): loading, validation, matching. See docs/formats.md.

One implementation, in the light client (ehps_client.formats, NumPy only), so the researcher's offline checker
(``ehps check``), the web's upload checks and the workers refuse exactly the same files.
"""
from ehps_client.formats import (  # noqa: F401  (re-exported for the evaluator and the server)
    BUNDLE_MEMBER, DEFAULT_SPLIT, MAX_ABS_VALUE, MAX_ID_LENGTH, OPTIONAL_PARAMS, PARAM_SHAPES, SAMPLE_IDS, SCHEMAS,
    SMPL_PARAM_SHAPES, SPLITS, VERTEX_SHAPE, VERTICES, FormatError, MetaKey, Role, SampleSet, Schema, bundle_slugs,
    load_sample_set, match_samples, release_pages,
)
