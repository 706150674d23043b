"""A synthetic person re-identification dataset in the Market-1501 layout, rendered with the
procedural body model: identities differ by body shape and clothing, cameras by background,
lighting and typical view-point, so matching across cameras is harder than within one.

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
import torch
from PIL import Image

from reidkit import log
from reidkit.body.params import FILE_NAME, BodyParams, save_body_params
from reidkit.body.poses import camera_orient, walking_pose
from reidkit.body.rotation import axis_angle_to_rotmat
from reidkit.config import config_to_dict
from reidkit.data.synth_look import (
    CameraLook,
    IdentityLook,
    blend_cameras,
    sample_cameras,
    sample_identities,
)
from reidkit.data.synth_render import SynthRenderer
from reidkit.errors import ConfigError
from reidkit.io import save_json

SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
MESH_SPLIT = {"train": "train", "query": "test", "gallery": "test"}


@dataclass
class SynthConfig:
    """Settings of `reidkit synth` (stored in synth.json)."""

    out: Path = Path("synth")
    ids: int = 100
    cameras: int = 4
    images_per_id: int = 16
    size: tuple[int, int] = (128, 64)
    seed: int = 0
    camera_gap: float = 1.0  # 1: each camera its own scene and light; 0: one shared scene
    batch_size: int = 64
    supersample: int = 2


@dataclass
class ImagePlan:
    """Everything that decides one image (drawn up front so the output is order-independent)."""

    pid: int
    cam: int
    frame: int
    split: str
    phase: float
    yaw: float
    fill: float
    shift: tuple[float, float]
    bg_offset: tuple[float, float]
    noise_seed: int

    @property
    def name(self) -> str:
        """Market-1501 file name `PPPP_cCsS_FFFFFF_BB.jpg`."""
        return f"{self.pid:04d}_c{self.cam + 1}s1_{self.frame:06d}_01.jpg"


def _check(config: SynthConfig) -> None:
    if config.ids < 2 or config.ids > 9999:
        raise ConfigError(f"--ids must be 2..9999, got {config.ids}", fix="half train, half test")
    if config.cameras < 2 or config.cameras > 9:
        raise ConfigError(f"--cameras must be 2..9, got {config.cameras}")
    if config.images_per_id < 4:
        raise ConfigError(
            f"--images-per-id must be at least 4, got {config.images_per_id}",
            fix="each identity needs two cameras with two images (query + gallery)",
        )
    if not 0.0 <= config.camera_gap <= 1.0:
        raise ConfigError(
            f"--camera-gap must be within 0..1, got {config.camera_gap}",
            fix="1 = each camera its own scene and light (default), 0 = one shared scene",
        )
    h, w = config.size
    if h < 32 or w < 16:
        raise ConfigError(f"--size {h}x{w} is too small", fix="use at least 32x16")


def plan_images(
    config: SynthConfig, rng: np.random.Generator, cameras: list[CameraLook]
) -> list[ImagePlan]:
    """Cameras, frames, split, gait and jitter of every image; deterministic for the generator."""
    n_train = config.ids // 2
    cam_delay = rng.integers(0, 3000, config.cameras)
    plans: list[ImagePlan] = []
    for pid in range(1, config.ids + 1):
        split = "train" if pid <= n_train else "test"
        k = int(rng.integers(2, min(config.cameras, config.images_per_id // 2) + 1))
        cams = rng.choice(config.cameras, size=k, replace=False)
        assignment = np.sort(cams[np.arange(config.images_per_id) % k])
        start = int(rng.integers(0, 500_000))
        seen: dict[int, int] = {}
        for cam in assignment.tolist():
            look = cameras[cam]
            j = seen.get(cam, 0)
            seen[cam] = j + 1
            frame = start + int(cam_delay[cam]) + 6 * j + int(rng.integers(0, 5))
            if split == "test":
                image_split = "query" if j == 0 else "gallery"
            else:
                image_split = "train"
            plans.append(
                ImagePlan(
                    pid=pid,
                    cam=cam,
                    frame=frame,
                    split=image_split,
                    phase=float(rng.uniform(0, 2 * np.pi)),
                    yaw=float(look.yaw + rng.uniform(-look.yaw_spread, look.yaw_spread)),
                    fill=float(look.fill * rng.uniform(0.95, 1.04)),
                    shift=(float(rng.uniform(-0.05, 0.05)), float(rng.uniform(-0.03, 0.03))),
                    bg_offset=(float(rng.uniform()), float(rng.uniform())),
                    noise_seed=int(rng.integers(0, 2**31)),
                )
            )
    return plans


def _single_camera_queries(plans: list[ImagePlan]) -> None:
    """A test identity's only image in a camera goes to the gallery (no same-camera match needed,
    but every query must keep a gallery image of its identity in another camera)."""
    counts: dict[tuple[int, int], int] = {}
    for p in plans:
        counts[(p.pid, p.cam)] = counts.get((p.pid, p.cam), 0) + 1
    for p in plans:
        if p.split == "query" and counts[(p.pid, p.cam)] < 2:
            p.split = "gallery"


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
        cameras = blend_cameras(sample_cameras(rng, config.cameras), config.camera_gap)
        renderer = SynthRenderer(config.size, config.supersample, cameras, config.seed)
        plans = plan_images(config, rng, cameras)
        _single_camera_queries(plans)
        for folder in SPLIT_FOLDERS.values():
            (tmp / folder).mkdir()
        params = _render_all(config, renderer, identities, plans, tmp)
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


def _render_all(
    config: SynthConfig,
    renderer: SynthRenderer,
    identities: list[IdentityLook],
    plans: list[ImagePlan],
    tmp: Path,
) -> BodyParams:
    axis_angle = walking_pose(
        torch.tensor([p.phase for p in plans]),
        torch.tensor([identities[p.pid - 1].stride for p in plans]),
    )
    axis_angle[:, 0] = camera_orient(torch.tensor([np.degrees(p.yaw) for p in plans]))
    pose = axis_angle_to_rotmat(axis_angle).numpy().astype(np.float32)
    betas = np.stack([identities[p.pid - 1].betas for p in plans]).astype(np.float32)
    camera = np.zeros((len(plans), 3), np.float32)
    with log.task("synth: rendering", total=len(plans)) as progress:
        for start in range(0, len(plans), config.batch_size):
            rows = slice(start, start + config.batch_size)
            batch = plans[rows]
            images, cams = renderer.render(
                torch.from_numpy(betas[rows]),
                torch.from_numpy(pose[rows]),
                [identities[p.pid - 1] for p in batch],
                [p.cam for p in batch],
                batch,
            )
            camera[rows] = cams
            for plan, image in zip(batch, images, strict=True):
                Image.fromarray(image).save(tmp / SPLIT_FOLDERS[plan.split] / plan.name, quality=92)
            progress.advance(len(batch))
    names = [f"{MESH_SPLIT[p.split]}/{p.name}" for p in plans]
    return BodyParams(names, betas, pose, camera)
