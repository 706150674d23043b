"""Locate files shipped in `reidkit.assets` (the top-level assets/ folder of the source tree)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def asset_path(*parts: str) -> Path:
    """Filesystem path of a shipped asset (from a checkout, an editable or a wheel install)."""
    return Path(str(files("reidkit.assets").joinpath(*parts)))
