"""The weak-perspective camera HMR predicts, and how it maps mesh coordinates to image pixels.

Convention (shared by the renderer, HMR and `reidkit mesh`):

- Mesh vertices are in HMR's camera frame: x to the right of the image, y DOWN, z away from the
  camera (a smaller z is nearer). An upright SMPL body (y up, facing +z) is brought into this
  frame by a global orientation of 180 degrees about x (axis-angle ``(pi, 0, 0)``), which is what
  HMR predicts for a person standing upright and facing the camera.
- A camera ``[s, tx, ty]`` maps a vertex to normalised coordinates
  ``xn = s * (x + tx)``, ``yn = s * (y + ty)``; ``[-1, 1]`` spans the square crop HMR saw.
- For an output image of H x W pixels, that square has side ``L = max(H, W)`` and is centred on the
  image (a 2:1 person crop is padded left and right to a square before HMR, so the square sticks
  out of the image sideways): ``u = W / 2 + xn * L / 2``, ``v = H / 2 + yn * L / 2``, in continuous
  pixel units where pixel (row i, column j) covers ``[j, j+1] x [i, i+1]`` and is sampled at its
  centre ``(j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import torch
from torch import Tensor


def as_size(size: tuple[int, int] | int) -> tuple[int, int]:
    """(H, W) from an int (square) or a pair."""
    if isinstance(size, int):
        return size, size
    h, w = (int(v) for v in size)
    if h <= 0 or w <= 0:
        raise ValueError(f"image size must be positive, got {size}")
    return h, w


def project(vertices: Tensor, cams: Tensor, size: tuple[int, int] | int) -> Tensor:
    """Weak-perspective projection to pixel coordinates: [B, V, 3] → [B, V, 3] as (u, v, z)."""
    h, w = as_size(size)
    side = float(max(h, w))
    cams = cams.to(vertices.dtype).reshape(-1, 3)
    s, tx, ty = (cams[:, i].reshape(-1, 1) for i in range(3))
    u = w / 2 + s * (vertices[..., 0] + tx) * side / 2
    v = h / 2 + s * (vertices[..., 1] + ty) * side / 2
    return torch.stack((u, v, vertices[..., 2]), dim=-1)


def fit_camera(vertices: Tensor, size: tuple[int, int] | int, fill: float = 0.9) -> Tensor:
    """A camera [B, 3] that centres each mesh and makes its height fill `fill` of the image.

    Useful for synthetic renders and previews; the mesh is expected in the camera frame above.
    """
    h, w = as_size(size)
    side = float(max(h, w))
    lo = vertices[..., :2].amin(dim=1)
    hi = vertices[..., :2].amax(dim=1)
    center = (lo + hi) / 2
    height = (hi[:, 1] - lo[:, 1]).clamp_min(1e-6)
    s = fill * (h / side) * 2 / height
    return torch.stack((s, -center[:, 0], -center[:, 1]), dim=-1)
