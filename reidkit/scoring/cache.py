"""Per-folder activation cache: the key covers the file list (names, sizes, mtimes), the network's
weights, the feature size and the resize policy, so a changed folder or network never hits."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from reidkit import log
from reidkit.io import atomic_path

CACHE_FORMAT = 1


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/reidkit/fid`, else `~/.cache/reidkit/fid`."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "reidkit" / "fid"


def cache_key(
    folder: Path, paths: Sequence[Path], network_tag: str, resize: tuple[int, int] | None, dims: int
) -> str:
    """Hex digest naming one folder's activations under one network and size policy."""
    files = []
    for path in paths:
        stat = path.stat()
        files.append([path.relative_to(folder).as_posix(), stat.st_size, stat.st_mtime_ns])
    payload = {
        "format": CACHE_FORMAT,
        "files": files,
        "network": network_tag,
        "dims": dims,
        "resize": list(resize) if resize is not None else "native",
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cache_file(cache_dir: Path, key: str) -> Path:
    """The .npy file holding one key's activations."""
    return Path(cache_dir) / f"{key}.npy"


def load_activations(cache_dir: Path, key: str, count: int, dims: int) -> np.ndarray | None:
    """Cached activations of the expected shape, or None (absent or damaged: recomputed)."""
    path = cache_file(cache_dir, key)
    if not path.is_file():
        return None
    try:
        act = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.warn(f"ignoring damaged FID cache file {path}: {exc}")
        return None
    return act if act.shape == (count, dims) else None


def save_activations(cache_dir: Path, key: str, act: np.ndarray) -> None:
    """Write atomically; a cache that cannot be written only costs time, so it warns."""
    path = cache_file(cache_dir, key)
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.save(handle, act)
    except OSError as exc:
        log.warn(f"could not write the FID cache {path}: {exc} (use --cache-dir or --no-cache)")
