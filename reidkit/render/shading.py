"""Shading on top of the rasteriser: smooth vertex normals, attribute interpolation (per-vertex
colours for synthetic people) and the grey Lambertian renders GCL's structure input uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reidkit.render.rasterize import Fragments, rasterize

# Direction towards the light in the camera frame (x right, y down, z away from the camera):
# from the front, a little above and to the left, like the reference renders' key light.
DEFAULT_LIGHT: tuple[float, float, float] = (-0.3, -0.5, -1.0)
AMBIENT = 0.3
DIFFUSE = 0.6


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals [B, V, 3] of meshes [B, V, 3] sharing faces [F, 3]."""
    faces = faces.to(device=vertices.device, dtype=torch.long)
    tri = vertices[:, faces]  # [B, F, 3, 3]
    fn = torch.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0], dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals.index_add_(1, faces[:, k], fn)
    return F.normalize(normals, dim=-1, eps=1e-12)


def interpolate(fragments: Fragments, faces: Tensor, attributes: Tensor) -> Tensor:
    """Per-pixel barycentric interpolation of per-vertex attributes [B, V, C] → [B, H, W, C]
    (zeros on background). Use it to paint per-vertex RGB colours or normals."""
    faces = faces.to(device=attributes.device, dtype=torch.long)
    bsz, h, w = fragments.face_index.shape
    mask = fragments.face_index >= 0
    b_idx = torch.arange(bsz, device=attributes.device).view(bsz, 1, 1).expand(bsz, h, w)[mask]
    corner = faces[fragments.face_index[mask]]  # [N, 3]
    values = attributes[b_idx.unsqueeze(1), corner]  # [N, 3, C]
    mixed = (fragments.barycentric[mask].unsqueeze(-1).to(values.dtype) * values).sum(1)
    out = torch.zeros((bsz, h, w, attributes.shape[-1]), dtype=attributes.dtype,
                      device=attributes.device)
    out[mask] = mixed
    return out


def lambert(normals: Tensor, light: tuple[float, float, float] | Tensor = DEFAULT_LIGHT,
            ambient: float = AMBIENT, diffuse: float = DIFFUSE) -> Tensor:
    """Lambertian intensity in [0, 1] of unit normals [..., 3]; normals are first turned towards
    the camera (-z), so the winding order of a mesh never darkens it."""
    light_t = F.normalize(torch.as_tensor(light, dtype=normals.dtype, device=normals.device), dim=0)
    facing = torch.where(normals[..., 2:3] > 0, -normals, normals)
    return ambient + diffuse * (facing * light_t).sum(-1).clamp_min(0)


@torch.no_grad()
def render_grey(
    vertices: Tensor,
    faces: Tensor,
    cams: Tensor,
    size: tuple[int, int] | int = (256, 128),
    *,
    light: tuple[float, float, float] | Tensor = DEFAULT_LIGHT,
    renderer: str = "torch",
) -> Tensor:
    """Grey Lambertian renders on black: meshes [B, V, 3] (camera frame), cameras [B, 3] →
    uint8 [B, H, W]. See `reidkit.render.camera` for the camera and pixel convention."""
    if vertices.dim() == 2:
        vertices = vertices.unsqueeze(0)
    vertices = vertices.float()
    frags = rasterize(vertices, faces, cams, size, renderer=renderer)
    normals = F.normalize(interpolate(frags, faces, vertex_normals(vertices, faces)), dim=-1)
    shade = lambert(normals, light)
    shade = torch.where(frags.face_index >= 0, shade, torch.zeros_like(shade))
    return (shade * 255).round().clamp(0, 255).to(torch.uint8)
