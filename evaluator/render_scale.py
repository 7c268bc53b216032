"""The failure pictures' colour scale and part order (evaluator.render), NumPy only: the web tier draws the legend
and reads the per-part table with them without importing the renderer (torch, smplx stay out of web processes:
tests/web/test_web_process_imports.py)."""
from __future__ import annotations

import numpy as np

SCALE_MM = 200.0  # top of the colour scale
NO_VALUE = np.array([150, 150, 150], dtype=np.float64)  # a part without a value (no GT for it)
# Stops of the colour scale (0, 0.5, 1 of SCALE_MM).
RAMP = np.array([[49, 99, 206], [247, 205, 70], [214, 39, 40]], dtype=np.float64)
# The per-sample table's value for each part, in ``evaluator.render.part_ids`` order (0 body, 1 left hand,
# 2 right hand, 3 face).
PART_METRICS: tuple[str, ...] = ("mpjpe_body", "mpvpe_l_hand", "mpvpe_r_hand", "mpvpe_face")


def error_colours(values_mm: np.ndarray) -> np.ndarray:
    """(N, 3) float colours of errors in mm on the fixed scale; NaN gets ``NO_VALUE``."""
    values = np.asarray(values_mm, dtype=np.float64)
    t = np.clip(np.nan_to_num(values, nan=0.0) / SCALE_MM, 0.0, 1.0) * (len(RAMP) - 1)
    low = np.minimum(t.astype(np.int64), len(RAMP) - 2)
    frac = (t - low)[:, None]
    colours = RAMP[low] * (1 - frac) + RAMP[low + 1] * frac
    colours[~np.isfinite(values)] = NO_VALUE
    return colours
