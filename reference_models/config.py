"""Training configs: JSON files in ``reference_models/configs/`` (name or path).

Path values may contain ``{out_dir}``; :meth:`TrainConfig.resolved` substitutes the run's output folder,
so a run started with ``--out-dir D`` keeps its generated SMPL-X model and rendered images under D.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

CONFIG_DIR = Path(__file__).parent / "configs"


@dataclass
class TrainConfig:
    arch: str = "smpler_x"
    size: str = "H"
    model_dir: str = "var/smplx_synthetic"  # SMPL-X model used by the joint losses
    make_synthetic_model: bool = False  # generate model_dir with evaluator's synthetic generator if missing
    train: list[dict] = field(default_factory=list)  # data sources, see reference_models.data.build
    data_strategy: str = "balance"  # or "concat" (official data_strategy, reference_models.data.mixing)
    total_data_len: int | None = None  # draws per pass under "balance"; None: largest dataset × number of datasets
    val: list[dict] = field(default_factory=list)
    out_dir: str = "var/reference_models/run"
    batch_size: int = 32
    epochs: int = 10
    max_steps: int | None = None
    lr: float = 1e-5
    min_lr: float = 1e-6
    amp: bool = True
    augment: bool = True
    downsample: str = "nearest"  # 512×384 → 256×192 like the official models; or "box"
    num_workers: int = 4
    seed: int = 0
    log_every: int = 10
    val_every: int = 0  # steps; 0 = once per epoch
    init_checkpoint: str | None = None  # one of ours
    official_checkpoint: str | None = None  # official SMPLer-X / SMPLest-X weights
    vitpose_checkpoint: str | None = None  # official vitpose_{small,base,large,huge}.pth: encoder start
    fine_tune: str | None = None  # None, "backbone", "neck_and_head" or "head" (reference_models.pretrained)
    save_every: int = 0  # steps between checkpoints (0 = once per epoch); a killed run resumes from the last
    syncbn: bool = True  # SyncBatchNorm under DDP, where the device supports it (CUDA)

    @classmethod
    def load(cls, name_or_path: str) -> "TrainConfig":
        path = Path(name_or_path)
        if not path.is_file():
            path = CONFIG_DIR / f"{name_or_path.removesuffix('.json')}.json"
        if not path.is_file():
            raise FileNotFoundError(f"config {name_or_path!r} not found (looked in {CONFIG_DIR})")
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown config keys {unknown}")
        return cls(**data)

    def resolved(self) -> "TrainConfig":
        """A copy with ``{out_dir}`` replaced in ``model_dir`` and every data entry's ``path``."""
        sub = lambda v: v.replace("{out_dir}", self.out_dir) if isinstance(v, str) else v  # noqa: E731
        entries = lambda items: [{k: sub(v) if k == "path" else v for k, v in e.items()} for e in items]  # noqa: E731
        return replace(self, model_dir=sub(self.model_dir), train=entries(self.train), val=entries(self.val))

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}
