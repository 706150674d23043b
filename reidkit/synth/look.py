"""What makes synthetic identities and cameras differ: per identity body shape, gait and clothing
(upper/lower colours, a pattern, sleeves, shorts, hair), per camera background, lighting,
view-point range and framing. All drawn from one NumPy generator, so a seed fixes the dataset."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass, replace

import numpy as np

PATTERNS = ("plain", "stripes", "band", "split")
SKIN = np.array(
    [
        [0.98, 0.84, 0.72],
        [0.92, 0.72, 0.58],
        [0.80, 0.60, 0.45],
        [0.62, 0.44, 0.32],
        [0.45, 0.31, 0.22],
        [0.33, 0.22, 0.16],
    ]
)
HAIR = np.array(
    [
        [0.08, 0.06, 0.05],
        [0.25, 0.16, 0.09],
        [0.45, 0.30, 0.15],
        [0.85, 0.72, 0.45],
        [0.60, 0.60, 0.60],
        [0.55, 0.20, 0.10],
    ]
)
TROUSERS = np.array(
    [
        [0.12, 0.16, 0.32],
        [0.08, 0.08, 0.09],
        [0.40, 0.40, 0.42],
        [0.70, 0.62, 0.45],
        [0.25, 0.30, 0.18],
        [0.55, 0.10, 0.12],
    ]
)


@dataclass
class IdentityLook:
    """One person: body shape (betas), gait and clothing colours (RGB in [0, 1])."""

    betas: np.ndarray
    stride: float
    skin: np.ndarray
    upper: np.ndarray
    upper2: np.ndarray
    pattern: str
    period: float
    long_sleeves: bool
    lower: np.ndarray
    shorts: bool
    shoes: np.ndarray
    hair: np.ndarray
    long_hair: bool


@dataclass
class CameraLook:
    """One camera: background, light, typical heading of people and framing."""

    wall: np.ndarray
    floor: np.ndarray
    horizon: float
    texture: str
    texture_scale: float
    light: np.ndarray
    ambient: float
    diffuse: float
    tint: np.ndarray
    yaw: float
    yaw_spread: float
    fill: float
    noise: float


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v))


def sample_identities(rng: np.random.Generator, n: int) -> list[IdentityLook]:
    """n distinct-looking people."""
    people = []
    for _ in range(n):
        hue = rng.uniform()
        upper = _hsv(hue, rng.uniform(0.25, 0.95), rng.uniform(0.25, 0.95))
        upper2 = _hsv(hue + rng.uniform(0.25, 0.75), rng.uniform(0.0, 0.8), rng.uniform(0.2, 1.0))
        if rng.uniform() < 0.6:
            lower = TROUSERS[rng.integers(len(TROUSERS))] * rng.uniform(0.85, 1.15)
        else:
            lower = _hsv(rng.uniform(), rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8))
        people.append(
            IdentityLook(
                betas=np.clip(rng.normal(0.0, 1.0, 10), -2.5, 2.5).astype(np.float32),
                stride=float(rng.uniform(0.5, 1.2)),
                skin=SKIN[rng.integers(len(SKIN))] * rng.uniform(0.93, 1.05),
                upper=upper,
                upper2=upper2,
                pattern=PATTERNS[rng.integers(len(PATTERNS))],
                period=float(rng.uniform(0.05, 0.11)),
                long_sleeves=bool(rng.uniform() < 0.5),
                lower=np.clip(lower, 0, 1),
                shorts=bool(rng.uniform() < 0.25),
                shoes=_hsv(rng.uniform(), rng.uniform(0, 0.5), rng.uniform(0.05, 0.9)),
                hair=HAIR[rng.integers(len(HAIR))] * rng.uniform(0.85, 1.1),
                long_hair=bool(rng.uniform() < 0.35),
            )
        )
    return people


def sample_cameras(rng: np.random.Generator, n: int) -> list[CameraLook]:
    """n cameras with their own scene, light and the direction people usually walk in view."""
    cams = []
    headings = rng.permutation(n) * (2 * np.pi / n) + rng.uniform(-0.3, 0.3, n)
    for c in range(n):
        azimuth, elevation = rng.uniform(-1.2, 1.2), rng.uniform(0.2, 0.9)
        # towards the light, camera frame (x right, y down, z away from the camera)
        light = np.array(
            [
                np.sin(azimuth) * np.cos(elevation),
                -np.sin(elevation),
                -np.cos(azimuth) * np.cos(elevation),
            ]
        )
        cams.append(
            CameraLook(
                wall=_hsv(rng.uniform(), rng.uniform(0.05, 0.6), rng.uniform(0.3, 0.9)),
                floor=_hsv(rng.uniform(), rng.uniform(0.0, 0.4), rng.uniform(0.2, 0.7)),
                horizon=float(rng.uniform(0.5, 0.8)),
                texture=("tiles", "noise", "stripes")[c % 3],
                texture_scale=float(rng.uniform(0.05, 0.2)),
                light=light,
                ambient=float(rng.uniform(0.3, 0.55)),
                diffuse=float(rng.uniform(0.45, 0.75)),
                tint=rng.uniform(0.8, 1.15, 3),
                yaw=float(headings[c]),
                yaw_spread=float(rng.uniform(0.35, 0.7)),
                fill=float(rng.uniform(0.8, 0.92)),
                noise=float(rng.uniform(0.005, 0.03)),
            )
        )
    return cams


# scene and light of a camera: what --camera-gap blends towards camera 0's
SCENE_FIELDS = (
    "wall", "floor", "horizon", "texture_scale", "light", "ambient", "diffuse", "tint", "fill",
    "noise",
)


# what --camera-gap blends towards: camera 0's drawn scene, or one fixed for every seed
SCENE_BASES = ("camera0", "neutral")


def neutral_scene(camera: CameraLook) -> CameraLook:
    """`camera` in the middle of every drawn range: grey wall and floor, light from above the
    camera, neutral tint. As a shared base it keeps one unlucky draw (a dark, tinted scene) from
    setting how hard a whole dataset is: the seed then changes the people and their paths."""
    elevation = 0.55
    light = np.array([0.0, -np.sin(elevation), -np.cos(elevation)])
    return replace(camera, wall=np.full(3, 0.6), floor=np.full(3, 0.45), horizon=0.65,
                   texture_scale=0.125, light=light, ambient=0.425, diffuse=0.6,
                   tint=np.ones(3), fill=0.86, noise=0.0175)


def blend_cameras(cameras: list[CameraLook], gap: float,
                  base: str = "camera0") -> list[CameraLook]:
    """Each camera's scene and light moved to `gap` of the way from the base scene's (1: its own;
    0: all share the base, only the walking direction differs); the texture kind is camera 0's
    below 0.5. The base is camera 0's scene or `neutral_scene`. Lets a study set how much the
    cameras differ, i.e. how camera-biased first features are."""
    if base not in SCENE_BASES:
        raise ValueError(f"base must be one of {SCENE_BASES}, not {base!r}")
    base_look = cameras[0] if base == "camera0" else neutral_scene(cameras[0])
    blended = []
    for cam in cameras:
        fields = {
            name: (1 - gap) * getattr(base_look, name) + gap * getattr(cam, name)
            for name in SCENE_FIELDS
        }
        fields["texture"] = cam.texture if gap >= 0.5 else base_look.texture
        blended.append(replace(cam, **fields))
    return blended


def background(look: CameraLook, height: int, width: int, seed: int) -> np.ndarray:
    """The camera's scene as float RGB [height, width, 3]: a wall above a floor line, textured."""
    rng = np.random.default_rng(seed)
    rows = np.linspace(0.0, 1.0, height)[:, None, None]
    cols = np.linspace(0.0, 1.0, width)[None, :, None]
    floor = rows > look.horizon
    base = np.where(floor, look.floor, look.wall) * (0.85 + 0.3 * rows)
    period = look.texture_scale
    if look.texture == "tiles":
        grid = ((rows // period + cols // (period * 2)) % 2).astype(float)
        pattern = 0.12 * (grid - 0.5)
    elif look.texture == "stripes":
        pattern = 0.1 * np.sin(2 * np.pi * cols / period) * np.ones_like(rows)
    else:
        coarse = rng.normal(0, 1, (max(2, int(1 / period)), max(2, int(0.5 / period)), 1))
        idx_r = np.minimum((rows[:, 0, 0] * coarse.shape[0]).astype(int), coarse.shape[0] - 1)
        idx_c = np.minimum((cols[0, :, 0] * coarse.shape[1]).astype(int), coarse.shape[1] - 1)
        pattern = 0.08 * coarse[idx_r][:, idx_c]
    return np.clip(base + pattern, 0.0, 1.0)
