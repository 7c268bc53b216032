"""Published baseline figures (mm) for 'reported' leaderboard rows. Data + accessor; no Django.

Sources: SMPLer-X README (caizhongang/SMPLer-X @ d3e3c10f) for MPE; the UBody table (SMPLer-X
Table 6 / SMPLest-X Table IX) comes from third-party transcriptions of the papers and is marked
``third_party=True`` until checked against the PDFs (see shared/spec/reference_evaluation.md beside the checkout, §6).
"""
from __future__ import annotations

from dataclasses import dataclass, field

SMPLER_X_README = "SMPLer-X README model-zoo table (github.com/caizhongang/SMPLer-X, commit d3e3c10f)"
UBODY_TABLE = ("SMPLer-X (NeurIPS'23) Table 6 / SMPLest-X (arXiv 2501.09782) Table IX, UBody intra-scene test; "
               "third-party transcription, unverified against the PDF")


@dataclass(frozen=True)
class BaselineRow:
    method: str
    benchmark: str  # "mpe" for the 5-benchmark mean, else a benchmark slug
    metrics: dict[str, float]  # metric key (evaluator naming) → mm
    source: str
    third_party: bool = False
    params_millions: float | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict)


def _mpe(method: str, mpe: float, params: float, notes: str = "") -> BaselineRow:
    return BaselineRow(method, "mpe", {"mpe": mpe}, SMPLER_X_README, params_millions=params, notes=notes)


def _ubody(method: str, pve, pa_pve, hand, pa_hand, face, pa_face, notes: str = "") -> BaselineRow:
    metrics = {"mpvpe_all": pve, "pa_mpvpe_all": pa_pve, "mpvpe_hand": hand, "pa_mpvpe_hand": pa_hand,
               "mpvpe_face": face, "pa_mpvpe_face": pa_face}
    return BaselineRow(method, "ubody", metrics, UBODY_TABLE, third_party=True, notes=notes)


BASELINES: tuple[BaselineRow, ...] = (
    _mpe("SMPLer-X-S32", 82.6, 32),
    _mpe("SMPLer-X-B32", 74.3, 103),
    _mpe("SMPLer-X-L32", 66.2, 327),
    _mpe("SMPLer-X-H32", 63.0, 662),
    _mpe("SMPLer-X-H32*", 59.7, 662, notes="3DPW camera fix (2024-03)"),
    _ubody("Hand4Whole", 104.1, 44.8, 45.7, 8.9, 27.0, 2.8),
    _ubody("OSX", 81.9, 42.2, 41.5, 8.6, 21.2, 2.0, notes="finetuned on UBody"),
    _ubody("SMPLer-X-L20", 57.4, 31.9, 40.2, 10.3, 21.6, 2.8, notes="finetuned on UBody"),
    _ubody("SMPLest-X-H40", 51.1, 27.8, 32.9, 7.9, 21.4, 2.5),
    _ubody("SMPLest-X-H40", 50.2, 26.9, 31.8, 8.4, 18.9, 2.4, notes="finetuned on UBody"),
)


def baseline_rows(benchmark: str | None = None) -> list[BaselineRow]:
    """All published rows, or those of one benchmark ("mpe", "ubody")."""
    return [r for r in BASELINES if benchmark is None or r.benchmark == benchmark]
