"""A vectorised z-buffer rasteriser in plain PyTorch (CPU or CUDA, no gradients needed).

Design: faces that can show (their box holds a pixel centre; front-facing when the mesh is
closed) are expanded into exactly the pixel centres of their own bounding box (a ragged
expansion with `repeat_interleave`, so small faces cost a few candidates and large faces no more
than their box). Each candidate is tested against barycentric planes precomputed per face, and
the nearest face per pixel wins through one `scatter_reduce(amin)` on a packed int64 key
``depth << 24 | face``. Barycentrics and depth are then computed once, for the winning face of
each covered pixel. Faces are processed in chunks of candidates so memory stays bounded.
"""

from __future__ import annotations

import torch
from torch import Tensor

from reidkit.data.transforms import DEFAULT_SIZE
from reidkit.errors import ConfigError
from reidkit.render.camera import as_size, project
from reidkit.render.fragments import Fragments

FACE_BITS = 24
DEPTH_BITS = 38
_FACE_MASK = (1 << FACE_BITS) - 1
_EMPTY = torch.iinfo(torch.int64).max
# A pixel centre within this barycentric distance of an edge counts as inside, so the shared
# edge of two faces never leaves a crack through rounding.
_EDGE_EPS = 1e-6


def closed_mesh(faces: Tensor) -> bool:
    """Whether every directed edge has its reverse exactly once (a closed, consistently wound
    surface, possibly of several parts): then back faces can never be visible."""
    f = faces.long()
    n = int(f.max()) + 1 if f.numel() else 0
    a = f.reshape(-1)
    b = f[:, [1, 2, 0]].reshape(-1)
    fwd = torch.sort(a * n + b).values
    rev = torch.sort(b * n + a).values
    return bool(f.numel()) and bool(torch.equal(fwd, rev)) and bool((fwd[1:] != fwd[:-1]).all())


def _face_setup(screen: Tensor, faces: Tensor, h: int, w: int, cull: bool):
    """Live faces (bounding box holds a pixel centre, non-degenerate, front-facing when culling)
    with their box and the planes of barycentrics and depth over it."""
    nf = faces.shape[0]
    # One contiguous [B, F] tensor per vertex coordinate (cheaper than slicing [B, F, 3, 3]).
    x0, x1, x2 = (screen[..., 0][:, faces[:, k]] for k in range(3))
    y0, y1, y2 = (screen[..., 1][:, faces[:, k]] for k in range(3))
    e1x, e1y, e2x, e2y = x1 - x0, y1 - y0, x2 - x0, y2 - y0
    area = e1x * e2y - e2x * e1y
    xmin = torch.ceil(torch.minimum(torch.minimum(x0, x1), x2) - 0.5).clamp_min(0)
    xmax = torch.floor(torch.maximum(torch.maximum(x0, x1), x2) - 0.5).clamp_max(w - 1)
    ymin = torch.ceil(torch.minimum(torch.minimum(y0, y1), y2) - 0.5).clamp_min(0)
    ymax = torch.floor(torch.maximum(torch.maximum(y0, y1), y2) - 0.5).clamp_max(h - 1)
    ok = (xmax >= xmin) & (ymax >= ymin) & (area.abs() > 1e-12)
    if cull:
        # Camera looks along +z, so an outward face is visible when its normal's z (= area) < 0.
        # The mesh volume (divergence theorem: sum of mean z times signed projected area) is
        # positive for outward winding.
        zsum = sum(screen[..., 2][:, faces[:, k]] for k in range(3))
        outward = (zsum * area).sum(1, keepdim=True) >= 0
        ok &= torch.where(outward, area < 0, area > 0)
    live = ok.reshape(-1).nonzero().squeeze(1)
    b = torch.div(live, nf, rounding_mode="floor")
    face = live - b * nf
    corner = faces[face]  # [N, 3]
    flat = screen.reshape(-1, 3)
    vbase = (b * screen.shape[1]).unsqueeze(1)
    p0, p1, p2 = (flat[vbase[:, 0] + corner[:, k]] for k in range(3))  # [N, 3] each

    def pick(t: Tensor) -> Tensor:
        return t.reshape(-1)[live]

    e1x, e1y, e2x, e2y = pick(e1x), pick(e1y), pick(e2x), pick(e2y)
    inv = 1.0 / pick(area)
    bx, by = pick(xmin), pick(ymin)
    bw, bh = pick(xmax) - bx + 1, pick(ymax) - by + 1
    # Barycentrics l1, l2 as planes over the box: l = a*dx + b*dy + c, (dx, dy) the integer
    # offset from the box's first pixel centre (small numbers keep float32 exact enough).
    ox, oy = bx + 0.5 - p0[:, 0], by + 0.5 - p0[:, 1]
    a1, b1, a2, b2 = e2y * inv, -e2x * inv, -e1y * inv, e1x * inv
    c1, c2 = a1 * ox + b1 * oy, a2 * ox + b2 * oy
    z0 = p0[:, 2]
    dz1, dz2 = p1[:, 2] - z0, p2[:, 2] - z0
    planes = torch.stack((a1, b1, c1, a2, b2, c2, a1 * dz1 + a2 * dz2, b1 * dz1 + b2 * dz2,
                          z0 + c1 * dz1 + c2 * dz2, bw))
    base = b * (h * w) + by.long() * w + bx.long()
    return live, planes, torch.stack((base, face)), (bw * bh).long()


def rasterize_screen(
    screen: Tensor,
    faces: Tensor,
    size: tuple[int, int] | int,
    *,
    cull_backfaces: bool | None = None,
    chunk: int = 1 << 21,
) -> Fragments:
    """Rasterise meshes already in pixel coordinates: screen [B, V, 3] as (u, v, z), faces [F, 3].

    A pixel is covered when its centre lies inside (or on the edge of) a face; the face with the
    smallest z wins. cull_backfaces: None = automatic (only for closed meshes, where it cannot
    change the image), True / False to force. `chunk` bounds the candidates processed at once.
    """
    h, w = as_size(size)
    screen = screen.float()
    faces = faces.to(device=screen.device, dtype=torch.long)
    bsz, nf = screen.shape[0], faces.shape[0]
    if nf >= 1 << FACE_BITS:
        raise ValueError(f"at most {1 << FACE_BITS} faces per mesh, got {nf}")
    cull = closed_mesh(faces) if cull_backfaces is None else cull_backfaces
    live, planes, ints, counts = _face_setup(screen, faces, h, w, cull)

    zs = screen[..., 2]
    zlo = zs.amin()
    zscale = float((1 << DEPTH_BITS) - 1) / float((zs.amax() - zlo).clamp_min(1e-12))
    zplanes = planes[6:9].clone()
    zplanes[2] -= zlo
    zplanes *= zscale
    zbuf = torch.full((bsz * h * w,), _EMPTY, dtype=torch.int64, device=screen.device)
    ends = torch.cumsum(counts, 0)
    total = int(ends[-1]) if len(ends) else 0
    bounds = [0]
    if total > chunk:
        cuts = torch.searchsorted(ends, torch.arange(chunk, total, chunk, device=ends.device))
        bounds += sorted(set(cuts.add(1).tolist()))
    bounds.append(len(live))
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        if hi > lo:
            _scatter_chunk(zbuf, planes[:, lo:hi], zplanes[:, lo:hi], ints[:, lo:hi],
                           counts[lo:hi], w)
    return _resolve(zbuf, screen, faces, h, w)


def _scatter_chunk(zbuf: Tensor, planes: Tensor, zplanes: Tensor, ints: Tensor, counts: Tensor,
                   w: int) -> None:
    """Test the bounding-box pixels of a run of faces and keep the nearest face per pixel."""
    n = int(counts.sum())
    device = planes.device
    owner = torch.repeat_interleave(torch.arange(len(counts), device=device), counts,
                                    output_size=n)
    start = torch.cumsum(counts, 0) - counts
    offset = (torch.arange(n, device=device) - start[owner]).float()
    p = planes.index_select(1, owner)
    bw = p[9]
    dy = torch.floor((offset + 0.5) / bw)
    dx = offset - dy * bw
    l1 = p[0] * dx + p[1] * dy + p[2]
    l2 = p[3] * dx + p[4] * dy + p[5]
    inside = ((l1 >= -_EDGE_EPS) & (l2 >= -_EDGE_EPS) & (l1 + l2 <= 1 + _EDGE_EPS)).nonzero()
    inside = inside.squeeze(1)
    owner, dx, dy = owner[inside], dx[inside], dy[inside]
    zp = zplanes.index_select(1, owner)
    zq = (zp[0] * dx + zp[1] * dy + zp[2]).clamp_(0, (1 << DEPTH_BITS) - 1).long()
    meta = ints.index_select(1, owner)
    key = (zq << FACE_BITS) | meta[1]
    pix = meta[0] + dy.long() * w + dx.long()
    zbuf.scatter_reduce_(0, pix, key, reduce="amin")


def _resolve(zbuf: Tensor, screen: Tensor, faces: Tensor, h: int, w: int) -> Fragments:
    """Turn the winning keys into face indices, barycentrics and depth."""
    bsz = screen.shape[0]
    device = zbuf.device
    covered = (zbuf != _EMPTY).nonzero().squeeze(1)
    face = zbuf[covered] & _FACE_MASK
    b = torch.div(covered, h * w, rounding_mode="floor")
    rem = covered - b * h * w
    py = torch.div(rem, w, rounding_mode="floor")
    px = rem - py * w
    tri = screen[b.unsqueeze(1), faces[face]]  # [N, 3, 3]
    e1 = tri[:, 1, :2] - tri[:, 0, :2]
    e2 = tri[:, 2, :2] - tri[:, 0, :2]
    d = torch.stack((px.float() + 0.5, py.float() + 0.5), -1) - tri[:, 0, :2]
    area = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    l1 = (d[:, 0] * e2[:, 1] - e2[:, 0] * d[:, 1]) / area
    l2 = (e1[:, 0] * d[:, 1] - d[:, 0] * e1[:, 1]) / area
    bary = torch.stack((1 - l1 - l2, l1, l2), -1).clamp(0, 1)
    bary = bary / bary.sum(-1, keepdim=True)
    z = (bary * tri[:, :, 2]).sum(-1)
    face_index = torch.full((bsz * h * w,), -1, dtype=torch.long, device=device)
    face_index[covered] = face
    bary_out = torch.zeros((bsz * h * w, 3), dtype=screen.dtype, device=device)
    bary_out[covered] = bary
    depth = torch.full((bsz * h * w,), float("inf"), dtype=screen.dtype, device=device)
    depth[covered] = z
    return Fragments(face_index.view(bsz, h, w), bary_out.view(bsz, h, w, 3), depth.view(bsz, h, w))


@torch.no_grad()
def rasterize(
    vertices: Tensor,
    faces: Tensor,
    cams: Tensor,
    size: tuple[int, int] | int = DEFAULT_SIZE,
    *,
    renderer: str = "torch",
    cull_backfaces: bool | None = None,
) -> Fragments:
    """Rasterise meshes [B, V, 3] (camera frame, see `reidkit.render.camera`) seen by weak-
    perspective cameras [B, 3] into an H x W image. renderer: "torch" or "pytorch3d";
    cull_backfaces as in `rasterize_screen` (torch renderer)."""
    if vertices.dim() == 2:
        vertices = vertices.unsqueeze(0)
    cams = cams.reshape(-1, 3).to(vertices.device)
    if cams.shape[0] == 1 and vertices.shape[0] > 1:
        cams = cams.expand(vertices.shape[0], 3)
    screen = project(vertices.float(), cams.float(), size)
    if renderer == "torch":
        return rasterize_screen(screen, faces, size, cull_backfaces=cull_backfaces)
    if renderer == "pytorch3d":
        from reidkit.render.pytorch3d_backend import rasterize_screen_pytorch3d

        return rasterize_screen_pytorch3d(screen, faces, size)
    raise ConfigError(f"unknown renderer {renderer!r}", fix="use 'torch' or 'pytorch3d'")
