"""Intra-class SSIM (scikit-image) over pairs of images of one identity: the paper's diversity
score (higher = more varied)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from skimage.metrics import structural_similarity

from reidkit import log
from reidkit.errors import ConfigError, DatasetError
from reidkit.scoring.images import load_array

CHANNELS = ("grey", "rgb")
_KEEP_DECODED = 512


def ssim_pair(first: np.ndarray, second: np.ndarray) -> float:
    """SSIM of two uint8 images (scikit-image defaults: 7×7 uniform window, data range 255);
    H×W×3 arrays are scored per channel and averaged."""
    channel_axis = -1 if first.ndim == 3 else None
    return float(structural_similarity(first, second, data_range=255, channel_axis=channel_axis))


def pair_scores(
    paths: Sequence[Path],
    pairs: np.ndarray,
    *,
    channels: str = "grey",
    resize: tuple[int, int] | None = None,
    desc: str = "SSIM pairs",
) -> np.ndarray:
    """SSIM of each (i, j) pair of `paths`; decoded images are kept for the next few pairs (pairs
    of one identity come together)."""
    if channels not in CHANNELS:
        raise ConfigError(f"unknown SSIM channels '{channels}'", fix="use grey or rgb")
    decoded: dict[int, np.ndarray] = {}

    def image(index: int) -> np.ndarray:
        if index not in decoded:
            if len(decoded) >= _KEEP_DECODED:
                decoded.pop(next(iter(decoded)))
            decoded[index] = load_array(paths[index], resize, grey=channels == "grey")
        return decoded[index]

    scores = np.empty(len(pairs), dtype=np.float64)
    with log.task(desc, total=len(pairs)) as progress:
        for k, (i, j) in enumerate(pairs):
            try:
                scores[k] = ssim_pair(image(int(i)), image(int(j)))
            except ValueError as exc:
                raise DatasetError(
                    f"SSIM failed for {paths[int(i)]} and {paths[int(j)]}: {exc}",
                    fix="images must be at least 7x7 pixels; pass --resize HxW",
                ) from exc
            progress.advance()
    return scores
