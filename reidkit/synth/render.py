"""Colour renders of synthetic people: the procedural body posed by SMPL skinning, painted per
vertex (skin, hair, clothes and their pattern), lit per camera and composited on the camera's
scene. Rendered at `supersample`× the output size and box-filtered down (anti-aliasing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from reidkit.body.model import faces_tensor, load_body_model, pose_body
from reidkit.render.camera import fit_camera
from reidkit.render.rasterize import rasterize
from reidkit.render.shading import interpolate, vertex_normals
from reidkit.synth.look import CameraLook, IdentityLook, background

HEAD, NECK = {15}, {12}
TORSO = {0, 3, 6, 9, 13, 14}
UPPER_ARM, FOREARM, HANDS = {16, 17}, {18, 19}, {20, 21, 22, 23}
THIGH, SHIN, FEET = {1, 2}, {4, 5}, {7, 8, 10, 11}


class Framing(Protocol):
    """Per-image jitter the renderer needs from an image plan."""

    fill: float
    shift: tuple[float, float]
    bg_offset: tuple[float, float]
    noise_seed: int


@dataclass
class BodyRegions:
    """Boolean masks over the template's vertices, plus the rest-pose height used by patterns."""

    head: np.ndarray
    hair_short: np.ndarray
    hair_long: np.ndarray
    upper: np.ndarray
    upper_arm: np.ndarray
    forearm: np.ndarray
    hands: np.ndarray
    neck: np.ndarray
    lower: np.ndarray
    shin: np.ndarray
    feet: np.ndarray
    height: np.ndarray
    side: np.ndarray


def body_regions(template: np.ndarray, weights: np.ndarray, joints: np.ndarray) -> BodyRegions:
    """Label template vertices (rest pose, y up, facing +z) by their dominant skinning joint."""
    part = weights.argmax(1)

    def of(group: set[int]) -> np.ndarray:
        return np.isin(part, sorted(group))

    x, y, z = template[:, 0], template[:, 1], template[:, 2]
    head_c, neck_c, waist_y = joints[15], joints[12], joints[3, 1]
    head, neck, torso = of(HEAD), of(NECK), of(TORSO)
    hair_short = head & ((y > head_c[1] + 0.02) | ((z < head_c[2] - 0.03) & (y > head_c[1] - 0.05)))
    behind = z < neck_c[2] - 0.01
    hair_long = (
        hair_short
        | (head & (z < head_c[2]) & (y > head_c[1] - 0.12))
        | ((neck | torso) & behind & (y > neck_c[1] - 0.18))
    )
    return BodyRegions(
        head=head,
        hair_short=hair_short,
        hair_long=hair_long,
        upper=torso & (y >= waist_y),
        upper_arm=of(UPPER_ARM),
        forearm=of(FOREARM),
        hands=of(HANDS),
        neck=neck,
        lower=(torso & (y < waist_y)) | of(THIGH),
        shin=of(SHIN),
        feet=of(FEET),
        height=y - waist_y,
        side=x,
    )


def albedo(regions: BodyRegions, look: IdentityLook) -> np.ndarray:
    """Per-vertex RGB of one person's skin, hair and clothes (V × 3, in [0, 1])."""
    r = regions
    colour = np.tile(look.skin, (len(r.height), 1))
    shirt = r.upper | r.upper_arm | (r.forearm & look.long_sleeves)
    if look.pattern == "stripes":
        second = (np.floor(r.height / look.period) % 2).astype(bool)
    elif look.pattern == "band":
        second = (r.height > 0.18) & (r.height < 0.18 + 1.5 * look.period)
    elif look.pattern == "split":
        second = r.side > 0
    else:
        second = np.zeros(len(r.height), bool)
    colour[shirt] = look.upper
    colour[shirt & second] = look.upper2
    colour[r.lower | (r.shin & ~look.shorts)] = look.lower
    colour[r.feet] = look.shoes
    colour[r.hair_long if look.long_hair else r.hair_short] = look.hair
    return np.clip(colour, 0.0, 1.0)


class SynthRenderer:
    """Renders batches of posed, painted procedural bodies on camera backgrounds (uint8 RGB)."""

    def __init__(
        self,
        size: tuple[int, int],
        supersample: int,
        cameras: Sequence[CameraLook],
        seed: int,
        device: torch.device | str = "cpu",
    ):
        self.size, self.ss, self.device = size, supersample, torch.device(device)
        self.looks = list(cameras)
        self.body = load_body_model("procedural", self.device)
        self.faces = faces_tensor(self.body)
        template = self.body.v_template.detach().cpu().numpy()
        joints = (self.body.J_regressor @ self.body.v_template).detach().cpu().numpy()
        weights = self.body.lbs_weights.detach().cpu().numpy()
        self.regions = body_regions(template, weights, joints)
        rest = self.body.v_template[None].float()
        radial = (rest - rest.mean(1, keepdim=True)) * vertex_normals(rest, self.faces)
        self.outward = 1.0 if float(radial.sum()) >= 0 else -1.0
        h, w = size[0] * supersample, size[1] * supersample
        self.backgrounds = [
            background(look, h + h // 4, w + w // 4, seed * 1000 + i)
            for i, look in enumerate(cameras)
        ]

    @torch.no_grad()
    def pose(self, betas: Tensor, pose: Tensor) -> Tensor:
        """Posed vertices [B, V, 3] (camera frame) from betas [B, 10] and rotmats [B, 24, 3, 3]."""
        return pose_body(self.body, pose, betas).vertices

    def frame_cameras(self, vertices: Tensor, framing: Sequence[Framing]) -> Tensor:
        """Weak-perspective cameras [B, 3] framing each body with its fill and shift jitter."""
        h, w = self.size
        side = max(h, w)
        cams = fit_camera(vertices, self.size, fill=1.0)
        fill = torch.tensor([f.fill for f in framing], dtype=cams.dtype, device=cams.device)
        shift = torch.tensor([f.shift for f in framing], dtype=cams.dtype, device=cams.device)
        cams[:, 0] = cams[:, 0] * fill
        cams[:, 1] = cams[:, 1] + shift[:, 0] * w * 2 / (side * cams[:, 0])
        cams[:, 2] = cams[:, 2] + shift[:, 1] * h * 2 / (side * cams[:, 0])
        return cams

    @torch.no_grad()
    def render(
        self,
        betas: Tensor,
        pose: Tensor,
        looks: Sequence[IdentityLook],
        cam_ids: Sequence[int],
        framing: Sequence[Framing],
    ) -> tuple[list[np.ndarray], np.ndarray]:
        """uint8 RGB images [H, W, 3] of a batch and the cameras [B, 3] that frame them."""
        cams = [self.looks[c] for c in cam_ids]
        vertices = self.pose(betas, pose).float()
        camera = self.frame_cameras(vertices, framing)
        h, w = self.size[0] * self.ss, self.size[1] * self.ss
        frags = rasterize(vertices, self.faces, camera, (h, w))
        colours = torch.from_numpy(np.stack([albedo(self.regions, look) for look in looks]))
        light = F.normalize(
            torch.tensor(np.stack([c.light for c in cams]), dtype=torch.float32), dim=-1
        )
        ambient = torch.tensor([c.ambient for c in cams]).view(-1, 1, 1)
        diffuse = torch.tensor([c.diffuse for c in cams]).view(-1, 1, 1)
        tint = torch.tensor(np.stack([c.tint for c in cams]), dtype=torch.float32)
        # Gouraud shading: light each vertex, then interpolate the lit colour once per pixel
        normals = vertex_normals(vertices, self.faces) * self.outward
        lit = (normals * light[:, None].to(self.device)).sum(-1, keepdim=True).clamp_min(0)
        shaded = colours.float().to(self.device) * (
            ambient.to(self.device) + diffuse.to(self.device) * lit
        )
        person = interpolate(frags, self.faces, shaded)
        scene = torch.stack(
            [self._background(c, f, h, w) for c, f in zip(cam_ids, framing, strict=True)]
        ).to(self.device)
        mask = (frags.face_index >= 0).unsqueeze(-1)
        image = torch.where(mask, person, scene) * tint[:, None, None].to(self.device)
        image = F.avg_pool2d(image.permute(0, 3, 1, 2), self.ss).permute(0, 2, 3, 1).cpu().numpy()
        out = []
        for img, cam, frame in zip(image, cams, framing, strict=True):
            noise = np.random.default_rng(frame.noise_seed).normal(0.0, cam.noise, img.shape)
            out.append((np.clip(img + noise, 0, 1) * 255).round().astype(np.uint8))
        return out, camera.cpu().numpy()

    def _background(self, cam: int, frame: Framing, h: int, w: int) -> Tensor:
        scene = self.backgrounds[cam]
        top = int(frame.bg_offset[0] * (scene.shape[0] - h + 1))
        left = int(frame.bg_offset[1] * (scene.shape[1] - w + 1))
        return torch.from_numpy(
            scene[top : top + h, left : left + w].astype(np.float32)
        )
