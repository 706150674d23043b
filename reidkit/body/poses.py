"""Hand-made SMPL poses (axis-angle, [N, 24, 3], joint 0 = global orientation) for synthetic
people, previews and tests: arms down, a walking cycle, and the orientation that puts an upright
body into the renderer's camera frame (y down, z away from the camera)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from reidkit.body.rotation import axis_angle_to_rotmat, rotation_y, rotmat_to_axis_angle

L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANKLE, R_ANKLE = 1, 2, 4, 5, 7, 8
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW = 16, 17, 18, 19


def _rx(angle: Tensor) -> Tensor:
    """Axis-angle vectors [N, 3] about x."""
    zero = torch.zeros_like(angle)
    return torch.stack((angle, zero, zero), -1)


def walking_pose(phase: Tensor | float, stride: Tensor | float = 1.0,
                 arm_down_deg: float = 72.0) -> Tensor:
    """A walking cycle: phase in radians ([N] or scalar), stride scales the swing (0 = standing).

    Returns axis-angle [N, 24, 3] with zero global orientation (SMPL frame: y up, facing +z).
    """
    phase = torch.as_tensor(phase, dtype=torch.float32).reshape(-1)
    stride = torch.as_tensor(stride, dtype=torch.float32).reshape(-1).expand_as(phase)
    n = phase.shape[0]
    s, c = torch.sin(phase), torch.cos(phase)
    pose = torch.zeros(n, 24, 3)
    swing = 0.45 * stride * s  # left thigh forward when positive
    pose[:, L_HIP] = _rx(-swing)
    pose[:, R_HIP] = _rx(swing)
    # The leg swinging forward bends its knee; the standing leg stays nearly straight.
    pose[:, L_KNEE] = _rx(0.08 + stride * 0.55 * torch.relu(torch.sin(phase + 0.9)))
    pose[:, R_KNEE] = _rx(0.08 + stride * 0.55 * torch.relu(torch.sin(phase + 0.9 + math.pi)))
    pose[:, L_ANKLE] = _rx(-0.1 * stride * c)
    pose[:, R_ANKLE] = _rx(0.1 * stride * c)
    down = math.radians(arm_down_deg)
    arm = 0.35 * stride * s  # arms swing against the legs
    for joint, side, sign in ((L_SHOULDER, 1.0, 1.0), (R_SHOULDER, -1.0, -1.0)):
        # First lower the arm about z, then swing it about x (forward = towards +z).
        down_rot = axis_angle_to_rotmat(torch.tensor([0.0, 0.0, -side * down]).expand(n, 3))
        swing_rot = axis_angle_to_rotmat(_rx(sign * arm))
        pose[:, joint] = rotmat_to_axis_angle(swing_rot @ down_rot)
    bend = 0.25 + 0.15 * stride * torch.relu(torch.stack((s, -s)))  # forearm forward
    pose[:, L_ELBOW] = torch.stack((torch.zeros(n), -bend[0], torch.zeros(n)), -1)
    pose[:, R_ELBOW] = torch.stack((torch.zeros(n), bend[1], torch.zeros(n)), -1)
    return pose


def camera_orient(yaw_deg: Tensor | float = 0.0) -> Tensor:
    """Global orientation (axis-angle [N, 3]) for an upright body in the camera frame, turned by
    `yaw_deg` about the vertical (0 = facing the camera, 90 = showing its left side... with the
    same sign convention as `reidkit.body.rotation.rotate_vertical`)."""
    yaw = torch.as_tensor(yaw_deg, dtype=torch.float32).reshape(-1)
    flip = axis_angle_to_rotmat(torch.tensor([math.pi, 0.0, 0.0])).expand(len(yaw), 3, 3)
    return rotmat_to_axis_angle(rotation_y(yaw) @ flip)


def with_orient(pose: Tensor, orient: Tensor) -> Tensor:
    """Copy of axis-angle poses [N, 24, 3] with joint 0 set to `orient` [N, 3] (or [1, 3])."""
    out = pose.clone()
    out[:, 0] = orient.expand(out.shape[0], 3)
    return out
