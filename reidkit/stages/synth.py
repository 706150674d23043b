"""`reidkit synth`: a synthetic person re-identification dataset in the Market-1501 layout,
rendered with the procedural body model: identities differ by body shape and clothing, cameras by
background, lighting and typical view-point, so matching across cameras is harder than within one.

The ground-truth body parameters of every image are written in the `--smpl-params` format
(`body_params.npz`), so `reidkit mesh --smpl-params` renders its meshes without HMR.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reidkit.body.params import FILE_NAME, save_body_params
from reidkit.config import check_range, config_to_dict, require
from reidkit.data.market import SPLIT_FOLDERS
from reidkit.errors import ConfigError
from reidkit.io import save_json
from reidkit.synth.look import (
    SCENE_BASES,
    blend_cameras,
    sample_cameras,
    sample_identities,
)
from reidkit.synth.plan import plan_images, render_all, single_camera_queries
from reidkit.synth.render import SynthRenderer


@dataclass
class SynthConfig:
    """Settings of `reidkit synth` (stored in synth.json)."""

    out: Path | None = None
    ids: int = 100
    cameras: int = 4
    images_per_id: int = 16
    size: tuple[int, int] = (128, 64)
    seed: int = 0
    camera_gap: float = 1.0  # 1: each camera its own scene and light; 0: one shared scene
    scene_base: str = "camera0"  # what the gap blends towards: camera 0's scene, or "neutral"
    batch_size: int = 64
    supersample: int = 2


def _check(config: SynthConfig) -> None:
    require(config, out="--out FOLDER (new or empty)")
    check_range("--ids", config.ids, 2, 9999, fix="half train, half test")
    check_range("--cameras", config.cameras, 2, 9)
    if config.images_per_id < 4:
        raise ConfigError(
            f"--images-per-id must be at least 4, got {config.images_per_id}",
            fix="each identity needs two cameras with two images (query + gallery)",
        )
    check_range("--camera-gap", config.camera_gap, 0, 1,
                fix="1 = each camera its own scene and light (default), 0 = one shared scene")
    if config.scene_base not in SCENE_BASES:
        raise ConfigError(f"--scene-base must be one of {', '.join(SCENE_BASES)}, "
                          f"not {config.scene_base!r}",
                          fix="camera0 = camera 0's drawn scene (default), neutral = one fixed "
                              "mid-grey scene for every seed")
    h, w = config.size
    if h < 32 or w < 16:
        raise ConfigError(f"--size {h}x{w} is too small", fix="use at least 32x16")


def _prepare_out(out: Path) -> Path:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(
            "the output folder exists and is not empty",
            path=out,
            fix="choose a new --out or remove the folder",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))


def run_synth(config: SynthConfig) -> dict[str, Any]:
    """Generate the dataset into `config.out` (built beside it, renamed when complete)."""
    _check(config)
    out = Path(config.out)
    tmp = _prepare_out(out)
    start_time = time.perf_counter()
    try:
        rng = np.random.default_rng(config.seed)
        identities = sample_identities(rng, config.ids)
        cameras = blend_cameras(sample_cameras(rng, config.cameras), config.camera_gap,
                                config.scene_base)
        renderer = SynthRenderer(config.size, config.supersample, cameras, config.seed)
        plans = plan_images(config.ids, config.images_per_id, rng, cameras)
        single_camera_queries(plans)
        for folder in SPLIT_FOLDERS.values():
            (tmp / folder).mkdir()
        params = render_all(renderer, identities, plans, tmp, config.batch_size)
        save_body_params(tmp / FILE_NAME, params)
        counts = {s: sum(p.split == s for p in plans) for s in SPLIT_FOLDERS}
        settings = {k: v for k, v in config_to_dict(config).items() if k != "out"}
        save_json({"generator": "reidkit synth", **settings, "counts": counts}, tmp / "synth.json")
        if out.exists():
            out.rmdir()
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    seconds = time.perf_counter() - start_time
    ids = {s: len({p.pid for p in plans if p.split == s}) for s in SPLIT_FOLDERS}
    return {
        "out": str(out),
        "images": len(plans),
        "counts": counts,
        "ids": ids,
        "cameras": config.cameras,
        "seconds": seconds,
        "images_per_s": len(plans) / max(seconds, 1e-9),
        "params": str(out / FILE_NAME),
    }


