"""Mean Primary Error across benchmarks (SMPLer-X / SMPLest-X definition, unweighted)."""
from __future__ import annotations

from typing import Mapping

# Primary metric per MPE benchmark: PVE everywhere except 3DPW (14-joint MPJPE).
PRIMARY_METRIC = {"agora": "mpvpe_all", "egobody": "mpvpe_all", "ubody": "mpvpe_all",
                  "3dpw": "mpjpe_body", "ehf": "mpvpe_all"}
HAND_PRIMARY_METRIC = "mpvpe_hand"
HAND_PA_PRIMARY_METRIC = "pa_mpvpe_hand"


def _mean_or_none(values: Mapping[str, float | None]) -> float | None:
    if not values or any(v is None for v in values.values()):
        return None
    return sum(float(v) for v in values.values()) / len(values)


def mean_primary_error(values: Mapping[str, float | None]) -> float | None:
    """Unweighted mean of each benchmark's primary error (mm); None if any is missing.

    ``values`` maps benchmark -> its primary error (PVE, or MPJPE for 3DPW), one entry per MPE
    benchmark; an empty mapping gives None.
    """
    return _mean_or_none(values)


def hand_mean_primary_error(values: Mapping[str, float | None]) -> float | None:
    """SMPLest-X hand (PA-)MPE: unweighted mean of per-benchmark hand (PA-)PVE; None if any missing."""
    return _mean_or_none(values)
