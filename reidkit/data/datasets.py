"""One entry point for every dataset reader: `load_dataset(name, root)` → ReidDataset."""

from __future__ import annotations

from pathlib import Path

from reidkit.data.folder import read_folder
from reidkit.data.market import read_duke, read_market
from reidkit.data.msmt import read_msmt
from reidkit.data.records import ReidDataset
from reidkit.errors import ConfigError

DATASETS = ("market", "duke", "msmt", "folder")
_READERS = {"market": read_market, "duke": read_duke, "msmt": read_msmt}


def load_dataset(name: str, root: str | Path, *, camera_regex: str | None = None) -> ReidDataset:
    """Read dataset `name` (market, duke, msmt, folder) under `root`, validating its layout."""
    key = name.lower()
    if key not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}'", fix=f"choose one of {', '.join(DATASETS)}")
    if key == "folder":
        return read_folder(root, camera_regex=camera_regex)
    if camera_regex:
        raise ConfigError(
            f"--camera-regex applies to --dataset folder only ({name} names carry the camera)"
        )
    return _READERS[key](root)
