"""SMPL-X parameter layout shared by the file checks and the body model (plain Python: no torch).

Defined in the light client (ehps_client.layouts), whose offline checker applies the same upload checks.
"""
from __future__ import annotations

from ehps_client.layouts import OPTIONAL_PARAMS, PARAM_SIZES, REQUIRED_PARAMS

__all__ = ["OPTIONAL_PARAMS", "PARAM_SIZES", "REQUIRED_PARAMS"]
