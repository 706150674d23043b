"""`reidkit score-gen`: the paper's Table 4 for any set of generated folders: FID against all real
images (DG-Net protocol), intra-class SSIM, and an optional real-vs-real reference row."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from reidkit import log
from reidkit.config import config_to_dict
from reidkit.device import resolve_device
from reidkit.errors import ConfigError, DatasetError
from reidkit.scoring import identities
from reidkit.scoring.activations import folder_activations
from reidkit.scoring.cache import default_cache_dir
from reidkit.scoring.fid import fid_from_activations
from reidkit.scoring.images import common_size, list_images
from reidkit.scoring.inception import (
    UNTRAINED_MARK,
    InceptionInfo,
    build_inception,
    describe_network,
    find_weights,
)
from reidkit.scoring.ssim import CHANNELS, pair_scores

REAL_ROW = "Real"


@dataclass
class ScoreGenConfig:
    """Options of `reidkit score-gen` (defaults: pytorch-fid's batch of 50, 2048-d pool3)."""

    real: Path | None = None
    generated: dict[str, str] = field(default_factory=dict)
    real_row: bool = False
    inception_weights: Path | None = None
    allow_untrained_inception: bool = False
    resize: tuple[int, int] | None = None
    batch_size: int = 50
    device: str = "auto"
    workers: int = 0
    cache_dir: Path | None = None
    no_cache: bool = False
    id_regex: str | None = None
    ssim_pairs_per_id: int = 20
    ssim_channels: str = "grey"
    seed: int = 0
    dims: int = 2048


@dataclass
class _Folder:
    """One scored folder: its images (sorted relative paths) and their identity groups."""

    name: str
    root: Path
    paths: list[Path]
    groups: dict[str, list[int]]


def _check(config: ScoreGenConfig) -> None:
    if config.real is None:
        raise ConfigError("no real images given", fix="pass --real FOLDER (real training images)")
    if not config.generated and not config.real_row:
        raise ConfigError("nothing to score", fix="pass --generated NAME=DIR and/or --real-row")
    if config.real_row and REAL_ROW in config.generated:
        raise ConfigError(f"'{REAL_ROW}' names the real-vs-real row", fix="rename that generator")
    if config.ssim_channels not in CHANNELS:
        raise ConfigError(f"unknown --ssim-channels '{config.ssim_channels}'", fix="grey or rgb")
    if config.batch_size < 1 or config.workers < 0:
        raise ConfigError("--batch-size must be >= 1 and --workers >= 0")
    if config.ssim_pairs_per_id < 0:
        raise ConfigError("--ssim-pairs-per-id must be >= 0 (0 = all pairs)")


def _scan(
    name: str, root: Path, config: ScoreGenConfig, pattern: re.Pattern[str] | None, needs_ids: bool
) -> _Folder:
    """List and validate a folder before any network pass (empty, unreadable, mixed sizes)."""
    paths = list_images(root)
    if config.resize is None:
        common_size(root, paths)
    rel = [p.relative_to(root).as_posix() for p in paths]
    groups, unparsed = identities.group_by_identity(rel, pattern)
    if needs_ids and not groups:
        raise DatasetError(
            f"no identity found in the image names of '{name}' (e.g. {rel[0]})",
            path=root,
            fix=r"name files like Market/Duke (0002_c1...) or pass --id-regex, e.g. '^(\d+)/'",
        )
    if needs_ids and unparsed:
        log.warn(
            f"{len(unparsed)} images in {root} have no identity in their name "
            f"(e.g. {rel[unparsed[0]]}): left out of SSIM pairs"
        )
    return _Folder(name, root, paths, groups)


def _ssim(folder: _Folder, config: ScoreGenConfig) -> dict[str, Any]:
    pairs = identities.intra_class_pairs(folder.groups, config.ssim_pairs_per_id, config.seed)
    if len(pairs) == 0:
        log.warn(f"'{folder.name}': no identity has two images, so no SSIM pair")
        return {"ssim_mean": float("nan"), "ssim_std": float("nan"), "ssim_pairs": 0}
    scores = pair_scores(
        folder.paths,
        pairs,
        channels=config.ssim_channels,
        resize=config.resize,
        desc=f"SSIM {folder.name}",
    )
    return {
        "ssim_mean": float(scores.mean()),
        "ssim_std": float(scores.std()),
        "ssim_pairs": int(len(pairs)),
    }


def _rules(config: ScoreGenConfig, real_count: int) -> dict[str, str]:
    cap = (
        "all pairs"
        if config.ssim_pairs_per_id == 0
        else (
            f"at most {config.ssim_pairs_per_id} pairs per identity "
            f"(seeded sample, seed {config.seed})"
        )
    )
    channels = (
        "greyscale (PIL luma)"
        if config.ssim_channels == "grey"
        else ("RGB, per channel then averaged")
    )
    return {
        "protocol": f"FID: each generated folder against all {real_count} real images "
        f"({config.real}), DG-Net's protocol; Inception pool3 ({config.dims}-d) features.",
        "ssim": f"SSIM: pairs of images of the same identity within a row's folder, {cap}; "
        f"{channels}; scikit-image defaults (7x7 window, data range 255); std over pairs.",
        "real_row": "Real row: real identities shuffled (seed "
        f"{config.seed}) and split into two disjoint halves; FID between the halves' images; "
        "SSIM over the real images with the rule above.",
    }


def run_score_gen(config: ScoreGenConfig) -> dict[str, Any]:
    """Score every generated folder (and the Real row when asked); returns rows and the rules."""
    _check(config)
    pattern = identities.compile_id_regex(config.id_regex)
    device = resolve_device(config.device)
    real = _scan(REAL_ROW, Path(config.real), config, pattern, needs_ids=config.real_row)
    generated = [
        _scan(name, Path(root), config, pattern, needs_ids=True)
        for name, root in config.generated.items()
    ]
    info = describe_network(
        find_weights(config.inception_weights, config.allow_untrained_inception),
        dims=config.dims,
        seed=config.seed,
    )
    if not info.trained:
        log.warn(f"Inception weights not found: untrained network, {UNTRAINED_MARK}")
    cache_dir = None if config.no_cache else Path(config.cache_dir or default_cache_dir())
    get_model = functools.cache(lambda: build_inception(info))

    def activations(folder: _Folder) -> tuple[np.ndarray, bool]:
        return folder_activations(
            get_model,
            info,
            folder.root,
            folder.paths,
            resize=config.resize,
            batch_size=config.batch_size,
            device=device,
            workers=config.workers,
            cache_dir=cache_dir,
        )

    real_act, real_cached = activations(real)
    rules = _rules(config, len(real.paths))
    rows = []
    if config.real_row:
        part_a, part_b = identities.split_identities(real.groups, config.seed)
        rows.append(
            {
                "name": REAL_ROW,
                "folder": str(real.root),
                "images": len(part_a) + len(part_b),
                "identities": len(real.groups),
                "from_cache": real_cached,
                "fid": fid_from_activations(real_act[part_a], real_act[part_b]),
                "split": {"a_images": len(part_a), "b_images": len(part_b)},
                **_ssim(real, config),
            }
        )
    for folder in generated:
        act, cached = activations(folder)
        rows.append(
            {
                "name": folder.name,
                "folder": str(folder.root),
                "images": len(folder.paths),
                "identities": len(folder.groups),
                "from_cache": cached,
                "fid": fid_from_activations(act, real_act),
                **_ssim(folder, config),
            }
        )
    return {
        "untrained": not info.trained,
        "marker": None if info.trained else UNTRAINED_MARK,
        "inception": _info_dict(info),
        "protocol": rules["protocol"],
        "real_row_rule": rules["real_row"] if config.real_row else None,
        "ssim": {
            "channels": config.ssim_channels,
            "pairs_per_id": config.ssim_pairs_per_id,
            "seed": config.seed,
            "rule": rules["ssim"],
        },
        "real_images": len(real.paths),
        "cache_dir": str(cache_dir) if cache_dir is not None else None,
        "rows": rows,
        "config": config_to_dict(config),
    }


def _info_dict(info: InceptionInfo) -> dict[str, Any]:
    return {
        "trained": info.trained,
        "weights": info.weights,
        "sha256": info.sha256,
        "seed": info.seed,
        "dims": info.dims,
    }
