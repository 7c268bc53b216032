"""Our checkpoints (save/load) and loading of official SMPLer-X / SMPLest-X weights.

Our module names are the official ones, so an official state dict needs only the wrappers removed:
the ``network`` / ``state_dict`` / ``model`` entry, DDP's ``module.`` prefix and the legacy names the
official test code renames (``backbone`` → ``encoder``, ``body_rotation_net`` → ``body_regressor``,
``hand_rotation_net`` → ``hand_regressor``). The SMPL-X layer's buffers (``smplx_layer.*``) are not
network weights and are set aside. Anything else that does not match is reported, and refused unless
``allow_partial``. Official weights are never downloaded here; pass a local file.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .models import build_model

DDP_PREFIX = "module."
# renames applied by the official test/inference loaders (SMPLer-X common/base.py, SMPLest-X main/base.py)
LEGACY_PREFIXES: tuple[tuple[str, str], ...] = (
    ("backbone.", "encoder."),
    ("body_rotation_net.", "body_regressor."),
    ("hand_rotation_net.", "hand_regressor."),
)
# the official Model keeps a deep copy of the SMPL-X layer, whose buffers land in every checkpoint
IGNORED_PREFIXES: tuple[str, ...] = ("smplx_layer.",)
STATE_DICT_KEYS = ("network", "state_dict", "model")


class CheckpointMismatch(Exception):
    """A checkpoint does not fill the model exactly (and a partial load was not allowed)."""

    def __init__(self, report: "LoadReport", source: str):
        self.report = report
        super().__init__(f"{source} does not fit the model: {report.describe()}")


@dataclass
class LoadReport:
    missing: list[str] = field(default_factory=list)  # model tensors the checkpoint does not have
    unexpected: list[str] = field(default_factory=list)  # checkpoint tensors the model does not have
    mismatched: list[str] = field(default_factory=list)  # "name: checkpoint shape vs model shape"
    ignored: list[str] = field(default_factory=list)  # known non-network tensors (SMPL-X layer buffers)
    loaded: int = 0

    @property
    def complete(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def counts(self) -> dict[str, int]:
        return {"loaded": self.loaded, "missing": len(self.missing), "unexpected": len(self.unexpected),
                "mismatched": len(self.mismatched), "ignored": len(self.ignored)}

    def describe(self, limit: int = 8) -> str:
        parts = [f"{self.loaded} tensors loaded"]
        for label, names in (("missing", self.missing), ("unexpected", self.unexpected),
                             ("shape mismatch", self.mismatched)):
            if names:
                more = f" … (+{len(names) - limit} more)" if len(names) > limit else ""
                parts.append(f"{len(names)} {label}: {', '.join(names[:limit])}{more}")
        return "; ".join(parts)


def unwrap_state_dict(obj) -> dict[str, torch.Tensor]:
    for key in STATE_DICT_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            return obj[key]
    if not isinstance(obj, dict):
        raise ValueError(f"not a state dict (a {type(obj).__name__})")
    return obj


def canonical_name(name: str) -> str:
    """Official (current, legacy or DDP-wrapped) tensor name → our name."""
    name = name.removeprefix(DDP_PREFIX)
    for old, new in LEGACY_PREFIXES:
        if name.startswith(old):
            return new + name[len(old):]
    return name


def load_state(model: nn.Module, state: dict[str, torch.Tensor], source: str = "checkpoint",
               allow_partial: bool = False) -> LoadReport:
    """Load an official-layout or our state dict into ``model``; raise CheckpointMismatch unless it fits."""
    own = model.state_dict()
    report = LoadReport()
    loadable: dict[str, torch.Tensor] = {}
    for raw_name, value in state.items():
        name = canonical_name(raw_name)
        if name.startswith(IGNORED_PREFIXES):
            report.ignored.append(raw_name)
        elif name not in own:
            report.unexpected.append(raw_name)
        elif own[name].shape != value.shape:
            report.mismatched.append(f"{raw_name}: {tuple(value.shape)} vs {tuple(own[name].shape)}")
        else:
            loadable[name] = value
    report.missing = [k for k in sorted(set(own) - set(loadable))
                      if not any(canonical_name(m.split(":")[0]) == k for m in report.mismatched)]
    report.loaded = len(loadable)
    if not report.complete and not allow_partial:
        raise CheckpointMismatch(report, source)
    model.load_state_dict(loadable, strict=False)
    return report


def load_official_checkpoint(model: nn.Module, path: str | Path, allow_partial: bool = False,
                             trusted: bool = False) -> LoadReport:
    """Load an official SMPLer-X / SMPLest-X ``.pth.tar`` into our model of the same size.

    ``trusted=False`` uses ``torch.load(weights_only=True)``; pass ``trusted=True`` only for operator
    files that need full unpickling.
    """
    raw = torch.load(path, map_location="cpu", weights_only=not trusted)
    return load_state(model, unwrap_state_dict(raw), str(path), allow_partial)


def save_checkpoint(path: str | Path, model: nn.Module, **extra) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {"arch": model.arch, "size": model.size, "model": model.state_dict(), **extra}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu",
                    allow_partial: bool = False) -> tuple[nn.Module, dict]:
    """Rebuild the model recorded in one of our checkpoints; returns (model, full checkpoint dict).

    ValueError if the file is not one of ours; CheckpointMismatch if its tensors do not fill the model.
    """
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    for key in ("arch", "size", "model"):
        if not isinstance(ckpt, dict) or key not in ckpt:
            raise ValueError(f"{path}: not a reference_models checkpoint (missing {key!r})")
    model = build_model(ckpt["arch"], ckpt["size"])
    load_state(model, ckpt["model"], str(path), allow_partial)
    return model, ckpt
