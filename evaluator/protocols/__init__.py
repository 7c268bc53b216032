"""Evaluation protocols: named, versioned recipes (one module per protocol). See docs/metrics.md.

    protocol = get_protocol("3dpw", {"joints": "smplest-x"})
    models = load_protocol_models(protocol, model_dir, device="cpu")
    gt = protocol.load_gt("gt.npz"); pred = load_sample_set("pred.npz")
    sums = protocol.score(models, gt, pred)          # {split: MetricSums}
    rows = protocol.per_sample(models, gt, pred)     # {"sample_id", "split", metric: (N,)}

Metrics a protocol does not list (e.g. hands on 3DPW) are simply absent from its results.
"""
from __future__ import annotations

import os
from typing import Mapping

from .. import __version__ as EVALUATOR_VERSION
from .agora_multiperson import AgoraMultiPerson
from .base import OptionSpec, Protocol, ProtocolModels, as_models
from .pw3d import Pw3d
from .smplx_generic import AgoraVal, Ehf, SmplxGeneric
from .ubody import UBody

_REGISTRY: dict[str, type[Protocol]] = {cls.name: cls for cls in (SmplxGeneric, Ehf, AgoraVal, Pw3d, UBody,
                                                                 AgoraMultiPerson)}


def register(cls: type[Protocol]) -> type[Protocol]:
    _REGISTRY[cls.name] = cls
    return cls


def available_protocols() -> list[str]:
    return sorted(_REGISTRY)


def protocol_class(name: str) -> type[Protocol]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; available: {', '.join(available_protocols())}") from None


def get_protocol(name: str, options: Mapping[str, object] | None = None) -> Protocol:
    """A configured protocol; ValueError naming the problem for an unknown name or option."""
    return protocol_class(name)(options)


def load_protocol_models(protocol: Protocol | str, model_dir: str | os.PathLike, device: str = "cpu",
                         smpl_model_dir: str | os.PathLike | None = None) -> ProtocolModels:
    """The body models ``protocol`` needs, loaded once per process (SMPL-X from ``model_dir``; SMPL
    from ``smpl_model_dir``, default ``model_dir``, for protocols with ``needs_smpl``)."""
    from ..body_model import load_body_model

    cls = protocol if isinstance(protocol, Protocol) else protocol_class(protocol)
    smplx = load_body_model(model_dir, device=device)
    smpl = None
    if cls.needs_smpl:
        from ..smpl import load_smpl_models

        smpl = load_smpl_models(smpl_model_dir or model_dir, device=device, dtype=smplx.dtype)
    return ProtocolModels(smplx=smplx, smpl=smpl)


__all__ = ["EVALUATOR_VERSION", "OptionSpec", "Protocol", "ProtocolModels", "as_models", "available_protocols",
           "get_protocol", "load_protocol_models", "protocol_class", "register"]
