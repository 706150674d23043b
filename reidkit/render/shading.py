"""Shading on top of the rasteriser: smooth vertex normals, attribute interpolation (per-vertex
colours for synthetic people) and the grey Lambertian renders GCL's structure input uses."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.render.fragments import Fragments
from reidkit.render.rasterize import rasterize

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


def _covered_values(fragments: Fragments, faces: Tensor, attributes: Tensor
                    ) -> tuple[Tensor, Tensor]:
    """Flat indices of the covered pixels and the attributes interpolated there [N, C]."""
    faces = faces.to(device=attributes.device, dtype=torch.long)
    bsz, h, w = fragments.face_index.shape
    flat_face = fragments.face_index.reshape(-1)
    idx = (flat_face >= 0).nonzero().squeeze(1)
    b = torch.div(idx, h * w, rounding_mode="floor")
    corner = faces[flat_face[idx]]  # [N, 3]
    values = attributes[b.unsqueeze(1), corner]  # [N, 3, C]
    bary = fragments.barycentric.reshape(-1, 3)[idx].unsqueeze(-1).to(values.dtype)
    return idx, (bary * values).sum(1)


def interpolate(fragments: Fragments, faces: Tensor, attributes: Tensor) -> Tensor:
    """Per-pixel barycentric interpolation of per-vertex attributes [B, V, C] → [B, H, W, C]
    (zeros on background). Use it to paint per-vertex RGB colours or normals."""
    bsz, h, w = fragments.face_index.shape
    idx, values = _covered_values(fragments, faces, attributes)
    out = torch.zeros((bsz * h * w, attributes.shape[-1]), dtype=attributes.dtype,
                      device=attributes.device)
    out[idx] = values
    return out.view(bsz, h, w, -1)


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
    size: tuple[int, int] | int = DEFAULT_SIZE,
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
    idx, normals = _covered_values(frags, faces, vertex_normals(vertices, faces))
    shade = lambert(F.normalize(normals, dim=-1, eps=1e-12), light)
    bsz, h, w = frags.face_index.shape
    out = torch.zeros(bsz * h * w, dtype=torch.uint8, device=vertices.device)
    out[idx] = (shade * 255).round().clamp(0, 255).to(torch.uint8)
    return out.view(bsz, h, w)
