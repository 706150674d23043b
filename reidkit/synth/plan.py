"""The synthetic set's images drawn up front (identity, camera, frame, split, gait, jitter), then
rendered in batches into the Market-1501 layout with their ground-truth body parameters."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit import log
from reidkit.body.params import BodyParams
from reidkit.body.poses import camera_orient, walking_pose
from reidkit.body.rotation import axis_angle_to_rotmat
from reidkit.data.market import SPLIT_FOLDERS
from reidkit.data.mesh_pairs import MESH_SPLIT
from reidkit.synth.look import CameraLook, IdentityLook
from reidkit.synth.render import SynthRenderer


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


def plan_images(ids: int, images_per_id: int, rng: np.random.Generator,
                cameras: list[CameraLook]) -> list[ImagePlan]:
    """Cameras, frames, split, gait and jitter of every image; deterministic for the generator.
    The first half of the identities train, the others are split into query and gallery."""
    n_train = ids // 2
    cam_delay = rng.integers(0, 3000, len(cameras))
    plans: list[ImagePlan] = []
    for pid in range(1, ids + 1):
        split = "train" if pid <= n_train else "test"
        k = int(rng.integers(2, min(len(cameras), images_per_id // 2) + 1))
        cams = rng.choice(len(cameras), size=k, replace=False)
        assignment = np.sort(cams[np.arange(images_per_id) % k])
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


def single_camera_queries(plans: list[ImagePlan]) -> None:
    """A test identity's only image in a camera goes to the gallery (no same-camera match needed,
    but every query must keep a gallery image of its identity in another camera)."""
    counts: dict[tuple[int, int], int] = {}
    for p in plans:
        counts[(p.pid, p.cam)] = counts.get((p.pid, p.cam), 0) + 1
    for p in plans:
        if p.split == "query" and counts[(p.pid, p.cam)] < 2:
            p.split = "gallery"


def render_all(renderer: SynthRenderer, identities: list[IdentityLook], plans: list[ImagePlan],
               out: Path, batch_size: int) -> BodyParams:
    """Render every planned image into `out`'s Market folders, `batch_size` at a time; returns
    the ground-truth body parameters of each (named as `reidkit mesh` names them)."""
    axis_angle = walking_pose(
        torch.tensor([p.phase for p in plans]),
        torch.tensor([identities[p.pid - 1].stride for p in plans]),
    )
    axis_angle[:, 0] = camera_orient(torch.tensor([np.degrees(p.yaw) for p in plans]))
    pose = axis_angle_to_rotmat(axis_angle).numpy().astype(np.float32)
    betas = np.stack([identities[p.pid - 1].betas for p in plans]).astype(np.float32)
    camera = np.zeros((len(plans), 3), np.float32)
    with log.task("synth: rendering", total=len(plans)) as progress:
        for start in range(0, len(plans), batch_size):
            rows = slice(start, start + batch_size)
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
                Image.fromarray(image).save(out / SPLIT_FOLDERS[plan.split] / plan.name, quality=92)
            progress.advance(len(batch))
    names = [f"{MESH_SPLIT[p.split]}/{p.name}" for p in plans]
    return BodyParams(names, betas, pose, camera)
