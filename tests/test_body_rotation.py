"""Rotation helpers: vertical-axis turns, 6D and axis-angle conversions."""

from __future__ import annotations

import math

import pytest
import torch
from smplx.lbs import batch_rodrigues

from reidkit.body.model import load_body_model, pose_body
from reidkit.body.poses import camera_orient, walking_pose, with_orient
from reidkit.body.rotation import (
    DEFAULT_ANGLES,
    axis_angle_to_rotmat,
    rot6d_to_rotmat,
    rotate_vertical,
    rotmat_to_axis_angle,
)
from reidkit.render import rasterize


def test_full_turn_is_identity_and_shapes():
    verts = torch.randn(2, 50, 3)
    out = rotate_vertical(verts, [0, 360, -360, 720])
    assert out.shape == (2, 4, 50, 3)
    for k in range(4):
        torch.testing.assert_close(out[:, k], verts, atol=1e-5, rtol=0)
    assert rotate_vertical(verts[0]).shape == (len(DEFAULT_ANGLES), 50, 3)


def test_quarter_turn_by_hand_about_the_mean():
    # Two points with mean (1, 5, 1): a quarter turn sends local +x to local -z.
    verts = torch.tensor([[[2.0, 5.0, 1.0], [0.0, 5.0, 1.0]]])
    out = rotate_vertical(verts, [90])[0, 0]
    torch.testing.assert_close(out, torch.tensor([[1.0, 5.0, 0.0], [1.0, 5.0, 2.0]]),
                               atol=1e-6, rtol=0)


def test_rotation_keeps_mean_height_and_distances():
    verts = torch.randn(3, 40, 3)
    out = rotate_vertical(verts, [33, 135])
    torch.testing.assert_close(out.mean(2), verts.mean(1, keepdim=True).expand(3, 2, 3),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(out[..., 1], verts[:, None, :, 1].expand(3, 2, 40))
    def dist(v):
        return (v[:, :, None] - v[:, None]).norm(dim=-1)

    torch.testing.assert_close(dist(out[:, 1]), dist(verts), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def body():
    return load_body_model("procedural")


def _silhouette(verts, faces, size=(96, 64)):
    center = verts.mean(1)
    cams = torch.stack((torch.full((len(verts),), 1.0), -center[:, 0], -center[:, 1]), -1)
    return rasterize(verts, faces, cams, size).face_index >= 0


@pytest.mark.parametrize("phase,symmetric", [(0.0, True), (1.1, False)])
def test_half_turn_mirrors_the_silhouette(body, phase, symmetric):
    stride = 0.0 if symmetric else 1.0
    yaw = 0.0 if symmetric else 60.0
    pose = with_orient(walking_pose(phase, stride=stride), camera_orient(yaw))
    verts = pose_body(body, pose).vertices
    turned = rotate_vertical(verts, [180])[:, 0]
    sil = _silhouette(verts, body.faces_tensor)
    sil_turned = _silhouette(turned, body.faces_tensor)
    mirrored = sil.flip(-1)
    mismatch = (sil_turned != mirrored).float().mean().item()
    assert mismatch < 0.002
    assert sil.sum() > 500
    if symmetric:  # a left-right symmetric pose looks the same from behind
        assert (sil_turned != sil).float().mean().item() < 0.002
    else:
        assert (sil_turned != sil).float().mean().item() > 0.01


def test_axis_angle_matches_hand_case_and_smplx():
    rot = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, math.pi / 2]))
    torch.testing.assert_close(rot, torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0],
                                                  [0.0, 0.0, 1.0]]), atol=1e-6, rtol=0)
    aa = torch.randn(64, 3)
    torch.testing.assert_close(axis_angle_to_rotmat(aa), batch_rodrigues(aa), atol=1e-5, rtol=0)
    torch.testing.assert_close(axis_angle_to_rotmat(torch.zeros(3)), torch.eye(3))


def test_rotmat_to_axis_angle_round_trip_including_half_turns():
    aa = torch.randn(200, 3)
    aa = aa / aa.norm(dim=-1, keepdim=True) * torch.rand(200, 1) * 3.1
    half = torch.nn.functional.normalize(torch.randn(5, 3), dim=-1) * math.pi
    aa = torch.cat([aa, half, torch.zeros(1, 3)]).double()
    back = axis_angle_to_rotmat(rotmat_to_axis_angle(axis_angle_to_rotmat(aa)))
    torch.testing.assert_close(back, axis_angle_to_rotmat(aa), atol=1e-4, rtol=0)


def test_rot6d_gram_schmidt():
    rot = axis_angle_to_rotmat(torch.randn(32, 3))
    six = rot[..., :2].reshape(32, 6)  # SPIN layout: the first two columns, interleaved
    torch.testing.assert_close(rot6d_to_rotmat(six), rot, atol=1e-5, rtol=0)
    # Any non-degenerate input gives a proper rotation; the first column is just normalised.
    raw = torch.randn(16, 6)
    out = rot6d_to_rotmat(raw)
    eye = torch.eye(3).expand(16, 3, 3)
    torch.testing.assert_close(out.transpose(1, 2) @ out, eye, atol=1e-5, rtol=0)
    torch.testing.assert_close(torch.linalg.det(out), torch.ones(16), atol=1e-5, rtol=0)
    a1 = raw.reshape(16, 3, 2)[..., 0]
    torch.testing.assert_close(out[..., 0], a1 / a1.norm(dim=-1, keepdim=True))
