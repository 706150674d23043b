"""Rotation helpers: novel view-points by turning the body about the vertical axis, and the
rotation parameterisations HMR uses (6D, axis-angle) converted to rotation matrices."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

DEFAULT_ANGLES: tuple[int, ...] = (45, 90, 135, 180, 225, 270, 315)


def rotation_y(angles_deg: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] about the y axis; x turns towards -z for positive angles."""
    theta = torch.deg2rad(angles_deg)
    c, s = torch.cos(theta), torch.sin(theta)
    one, zero = torch.ones_like(c), torch.zeros_like(c)
    rows = (c, zero, s, zero, one, zero, -s, zero, c)
    return torch.stack(rows, dim=-1).reshape(*theta.shape, 3, 3)


def rotate_vertical(
    vertices: Tensor, angles: Sequence[float] | Tensor = DEFAULT_ANGLES
) -> Tensor:
    """Turn each mesh about the vertical (y) axis through its vertex mean, for every angle.

    vertices: [B, V, 3] (or [V, 3]); angles in degrees. Returns [B, A, V, 3] ([A, V, 3] for a
    single mesh). Only x and z change; the camera is untouched, so a 180-degree turn mirrors an
    orthographic silhouette about the mean's x.
    """
    single = vertices.dim() == 2
    verts = vertices.unsqueeze(0) if single else vertices
    angle_t = torch.as_tensor(angles, dtype=verts.dtype, device=verts.device).reshape(-1)
    rot = rotation_y(angle_t)  # [A, 3, 3]
    center = verts.mean(dim=1, keepdim=True)  # [B, 1, 3]
    local = verts - center
    out = torch.einsum("aij,bvj->bavi", rot, local) + center.unsqueeze(1)
    return out[0] if single else out


def rot6d_to_rotmat(x: Tensor) -> Tensor:
    """6D rotation representation (Zhou et al. 2019) → rotation matrices by Gram–Schmidt.

    x: [..., 6] laid out as SPIN does (the two columns interleaved: reshape to [..., 3, 2]).
    Returns [..., 3, 3] whose columns are b1, b2, b1×b2.
    """
    cols = x.reshape(*x.shape[:-1], 3, 2)
    a1, a2 = cols[..., 0], cols[..., 1]
    b1 = F.normalize(a1, dim=-1)
    b2 = F.normalize(a2 - (b1 * a2).sum(-1, keepdim=True) * b1, dim=-1)
    b3 = torch.cross(b1, b2, dim=-1)
    return torch.stack((b1, b2, b3), dim=-1)


def axis_angle_to_rotmat(aa: Tensor) -> Tensor:
    """Axis-angle vectors [..., 3] → rotation matrices [..., 3, 3] (Rodrigues, stable at 0)."""
    angle = aa.norm(dim=-1, keepdim=True)
    axis = aa / angle.clamp_min(1e-12)
    x, y, z = axis.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack((zero, -z, y, z, zero, -x, -y, x, zero), dim=-1).reshape(*aa.shape[:-1], 3, 3)
    s = torch.sin(angle).unsqueeze(-1)
    c = torch.cos(angle).unsqueeze(-1)
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand_as(k)
    return eye + s * k + (1 - c) * (k @ k)


def rotmat_to_axis_angle(rot: Tensor) -> Tensor:
    """Rotation matrices [..., 3, 3] → axis-angle [..., 3] (for storing poses compactly)."""
    eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
    cos = ((rot.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2).clamp(-1.0, 1.0)
    angle = torch.acos(cos)
    vec = torch.stack(
        (rot[..., 2, 1] - rot[..., 1, 2], rot[..., 0, 2] - rot[..., 2, 0],
         rot[..., 1, 0] - rot[..., 0, 1]), dim=-1)  # 2 sin(angle) axis
    axis = vec / (2 * torch.sin(angle)).clamp_min(1e-12).unsqueeze(-1)
    # Near a half turn the skew part vanishes: read the axis off the symmetric part
    # (R + R^T) / 2 = cos I + (1 - cos) n n^T, with its sign taken from the skew part.
    outer = ((rot + rot.transpose(-1, -2)) / 2 - cos[..., None, None] * eye) / (
        1 - cos).clamp_min(1e-6)[..., None, None]
    diag = outer.diagonal(dim1=-2, dim2=-1)
    best = diag.argmax(-1, keepdim=True)
    col = torch.gather(outer, -1, best.unsqueeze(-2).expand(*outer.shape[:-1], 1)).squeeze(-1)
    axis_pi = F.normalize(col, dim=-1)
    axis_pi = torch.where(((axis_pi * vec).sum(-1, keepdim=True) < 0), -axis_pi, axis_pi)
    axis = torch.where((cos < -0.9).unsqueeze(-1), axis_pi, axis)
    out = axis * angle.unsqueeze(-1)
    return torch.where((angle < 1e-4).unsqueeze(-1), vec / 2, out)
