"""Optional pytorch3d rasteriser behind the same `Fragments` interface (used only if importable)."""

from __future__ import annotations

import torch
from torch import Tensor

from reidkit.errors import ConfigError
from reidkit.render.camera import as_size
from reidkit.render.fragments import Fragments


def pytorch3d_available() -> bool:
    """Whether pytorch3d's mesh rasteriser can be imported here."""
    try:
        import pytorch3d.renderer.mesh.rasterize_meshes  # noqa: F401
        import pytorch3d.structures  # noqa: F401
    except ImportError:
        return False
    return True


def rasterize_screen_pytorch3d(
    screen: Tensor, faces: Tensor, size: tuple[int, int] | int
) -> Fragments:
    """Rasterise pixel-space meshes (u, v, z) with pytorch3d; same output as the torch backend."""
    if not pytorch3d_available():
        raise ConfigError(
            "renderer 'pytorch3d' was asked for but pytorch3d is not importable",
            fix="install pytorch3d for your torch version, or use --renderer torch (the default)",
        )
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    h, w = as_size(size)
    short = float(min(h, w))
    # pytorch3d NDC: +x left, +y up, the short side spans [-1, 1]; pixel centre (j + .5, i + .5)
    # of our convention sits at x = (W - 2u) / short, y = (H - 2v) / short.
    x = (w - 2 * screen[..., 0]) / short
    y = (h - 2 * screen[..., 1]) / short
    z = screen[..., 2]
    z = z - z.amin() + 1.0  # pytorch3d ignores faces behind the camera (z < 0)
    verts = torch.stack((x, y, z), dim=-1)
    faces = faces.to(device=screen.device, dtype=torch.long)
    bsz, nf = screen.shape[0], faces.shape[0]
    meshes = Meshes(verts=list(verts), faces=[faces] * bsz)
    pix_to_face, zbuf, bary, _ = rasterize_meshes(
        meshes, image_size=(h, w), blur_radius=0.0, faces_per_pixel=1, perspective_correct=False
    )
    packed = pix_to_face[..., 0]
    offset = torch.arange(bsz, device=screen.device).view(bsz, 1, 1) * nf
    face_index = torch.where(packed >= 0, packed - offset, torch.full_like(packed, -1))
    depth = torch.where(packed >= 0, zbuf[..., 0] + screen[..., 2].amin() - 1.0,
                        torch.full_like(zbuf[..., 0], float("inf")))
    first = bary[..., 0, :]
    barycentric = torch.where((packed >= 0).unsqueeze(-1), first, torch.zeros_like(first))
    return Fragments(face_index, barycentric, depth)
