"""What a prediction file holds, derived from ``evaluator.formats`` (the checker), so the docs cannot drift from it.

Used by the benchmark page's "How to submit" table and by the template .npz it offers for download.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import formats


@dataclass(frozen=True)
class KeySpec:
    key: str
    shapes: tuple[tuple[int | str, ...], ...]  # accepted shapes, canonical first; "N" is the number of samples
    dtype: str
    required: bool
    note: str = ""

    @property
    def shape_text(self) -> str:
        return " or ".join("(" + ", ".join(map(str, s)) + ("," if len(s) == 1 else "") + ")" for s in self.shapes)


def _ids_spec() -> KeySpec:
    return KeySpec(formats.SAMPLE_IDS, (("N",),), "string (numpy unicode, e.g. np.array(['a', 'b']))", True,
                   f"every sample of the benchmark exactly once, any order; at most {formats.MAX_ID_LENGTH} characters")


def prediction_keys() -> dict[str, list[KeySpec]]:
    """The two accepted layouts of a prediction .npz: SMPL-X parameters, or vertices."""
    floats = "float (float32 or float64), finite"
    params = [
        KeySpec(key, tuple(("N", *shape) for shape in shapes), floats, key not in formats.OPTIONAL_PARAMS,
                "axis-angle, radians" if key.endswith(("pose", "orient")) else
                "metres, camera frame" if key == "transl" else "coefficients")
        for key, shapes in formats.PARAM_SHAPES.items()
    ]
    vertices = [KeySpec(formats.VERTICES, (("N", *formats.VERTEX_SHAPE),), floats, True,
                        "SMPL-X mesh vertices in metres (instead of the parameters; do not mix the two)")]
    return {"params": [_ids_spec(), *params], "vertices": [_ids_spec(), *vertices]}


def template_arrays(sample_ids: np.ndarray) -> dict[str, np.ndarray]:
    """A valid prediction file for ``sample_ids``: every SMPL-X parameter zero (the mean shape in the rest pose).

    Researchers overwrite the rows with their predictions; the file passes the upload checks as it is.
    """
    ids = np.asarray(sample_ids).astype(str)
    n = len(ids)
    arrays: dict[str, np.ndarray] = {formats.SAMPLE_IDS: ids}
    for key, shapes in formats.PARAM_SHAPES.items():
        arrays[key] = np.zeros((n, *shapes[0]), dtype=np.float32)
    return arrays
