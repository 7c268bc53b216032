"""Helpers shared by the runner tests (a module, not conftest, so tests can import it by name)."""
from __future__ import annotations

import shutil

import pytest


def require_binaries(*names: str) -> None:
    """Skip when a sandbox tool is absent; CI installs them (scripts/system-packages, as root)."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/system-packages installs them as root)")
