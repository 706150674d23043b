"""Build the procedural body model: an SMPL-compatible file (same keys, shapes and 24-joint tree)
made from swept tubes (torso+neck, legs, feet, arms, hands, head, nose), so the mesh pipeline,
the synthetic data, the demo and the tests run where the licensed SMPL model is absent.

Run ``python -m reidkit.body.procedural --out assets/body/procedural_smpl.pkl`` to rebuild the
shipped file. The body stands about 1.74 m tall in SMPL's rest T-pose (y up, facing +z, its left
on +x), with SMPL's joint order and roughly SMPL's rest joint positions.
"""

from __future__ import annotations

import argparse
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_VERTICES = 6890  # SMPL's count, so smplx's extra-joint vertex ids stay valid
NUM_JOINTS = 24
NUM_BETAS = 10
PARENTS = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21)
JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)
MIRROR = {1: 2, 4: 5, 7: 8, 10: 11, 13: 14, 16: 17, 18: 19, 20: 21, 22: 23}
MIRROR.update({v: k for k, v in list(MIRROR.items())})

# Rest joint positions (metres) of the centre line and the left side; the right side mirrors x.
_JOINTS_LEFT = {
    0: (0.0, -0.225, 0.02), 1: (0.07, -0.315, 0.02), 3: (0.0, -0.115, 0.01),
    4: (0.10, -0.70, 0.015), 6: (0.0, 0.02, 0.01), 7: (0.09, -1.10, -0.03),
    9: (0.0, 0.075, 0.01), 10: (0.115, -1.15, 0.09), 12: (0.0, 0.29, -0.015),
    13: (0.075, 0.195, -0.01), 15: (0.0, 0.355, 0.035), 16: (0.17, 0.222, -0.02),
    18: (0.425, 0.212, -0.035), 20: (0.685, 0.22, -0.045), 22: (0.77, 0.213, -0.05),
}


def rest_joints() -> np.ndarray:
    """The intended rest joint positions [24, 3] of the mean shape (SMPL joint order)."""
    out = np.zeros((NUM_JOINTS, 3))
    for j, pos in _JOINTS_LEFT.items():
        out[j] = pos
        if j in MIRROR:
            out[MIRROR[j]] = (-pos[0], pos[1], pos[2])
    return out


@dataclass
class Tube:
    """A swept surface: Catmull-Rom through keyframes (centre, two radii), closed by domes."""

    name: str
    keys: np.ndarray  # [K, 5]: cx, cy, cz, r1, r2
    hint: tuple[float, float, float]  # direction of radius r1 (projected off the tangent)
    segments: int
    rings: int  # rings along the body of the tube (keyframes included), domes excluded
    bones: tuple[int, ...]  # joints whose bones may skin this tube
    joint_keys: dict[int, int]  # joint → keyframe index whose ring regresses that joint
    sigma: float = 0.025  # skinning blend length (m)
    power: float = 2.0  # superellipse exponent of the cross-section (2 = ellipse)
    domes: tuple[float, float] = (1.0, 1.0)  # cap height at (start, end) in units of radius
    side: int = 0  # +1 left, -1 right, 0 centre
    axis: tuple[float, float, float] | None = None  # keep rings square to this axis (no tilt)


def _k(*rows: tuple[float, ...]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def _left_tubes() -> list[Tube]:
    """Mean-shape tubes of the centre and the left side."""
    torso = Tube(
        "torso",
        _k((0, -0.40, 0.02, 0.09, 0.07), (0, -0.34, 0.02, 0.15, 0.105),
           (0, -0.225, 0.02, 0.162, 0.112), (0, -0.115, 0.01, 0.148, 0.10),
           (0, 0.02, 0.01, 0.155, 0.105), (0, 0.075, 0.01, 0.163, 0.108),
           (0, 0.19, 0.0, 0.172, 0.097), (0, 0.245, -0.01, 0.13, 0.075),
           (0, 0.27, -0.012, 0.065, 0.06), (0, 0.29, -0.015, 0.055, 0.055),
           (0, 0.35, 0.0, 0.052, 0.055)),
        (1, 0, 0), 44, 45, (0, 3, 6, 9, 12, 13, 14, 15), {0: 2, 3: 3, 6: 4, 9: 5, 12: 9},
        sigma=0.04, power=2.6, domes=(0.5, 0.5), axis=(0.0, 1.0, 0.0))
    leg = Tube(
        "leg",
        _k((0.075, -0.23, 0.02, 0.075, 0.075), (0.07, -0.315, 0.02, 0.085, 0.085),
           (0.08, -0.42, 0.025, 0.082, 0.085), (0.09, -0.56, 0.02, 0.065, 0.068),
           (0.10, -0.70, 0.015, 0.05, 0.05), (0.098, -0.80, 0.0, 0.05, 0.055),
           (0.094, -0.95, -0.02, 0.038, 0.042), (0.09, -1.10, -0.03, 0.03, 0.033),
           (0.09, -1.125, -0.035, 0.028, 0.03)),
        (1, 0, 0), 20, 40, (0, 1, 4, 7), {1: 1, 4: 4, 7: 7}, domes=(1.0, 0.5), side=1)
    foot = Tube(
        "foot",
        _k((0.09, -1.135, -0.075, 0.03, 0.032), (0.092, -1.125, -0.02, 0.038, 0.045),
           (0.105, -1.14, 0.04, 0.045, 0.03), (0.115, -1.15, 0.09, 0.047, 0.02),
           (0.12, -1.152, 0.14, 0.04, 0.017)),
        (1, 0, 0), 16, 12, (7, 10), {10: 3}, domes=(0.8, 0.7), side=1, axis=(0.0, 0.0, 1.0))
    arm = Tube(
        "arm",
        _k((0.06, 0.19, -0.01, 0.05, 0.05), (0.075, 0.195, -0.01, 0.055, 0.055),
           (0.17, 0.222, -0.02, 0.058, 0.058), (0.26, 0.218, -0.026, 0.048, 0.05),
           (0.36, 0.214, -0.032, 0.042, 0.044), (0.425, 0.212, -0.035, 0.037, 0.039),
           (0.50, 0.215, -0.038, 0.038, 0.04), (0.60, 0.218, -0.042, 0.03, 0.034),
           (0.685, 0.22, -0.045, 0.021, 0.03), (0.70, 0.22, -0.046, 0.02, 0.029)),
        (0, 1, 0), 16, 34, (13, 16, 18, 20), {13: 1, 16: 2, 18: 5, 20: 8}, domes=(1.0, 0.5),
        side=1)
    hand = Tube(
        "hand",
        _k((0.675, 0.22, -0.045, 0.019, 0.03), (0.72, 0.217, -0.047, 0.02, 0.042),
           (0.77, 0.213, -0.05, 0.017, 0.043), (0.82, 0.21, -0.052, 0.013, 0.04),
           (0.86, 0.207, -0.053, 0.01, 0.032)),
        (0, 1, 0), 12, 10, (20, 22), {22: 2}, sigma=0.02, domes=(0.5, 1.0), side=1)
    head = Tube(
        "head",
        _k((0, 0.315, 0.035, 0.035, 0.04), (0, 0.355, 0.035, 0.06, 0.07),
           (0, 0.40, 0.03, 0.073, 0.088), (0, 0.45, 0.02, 0.078, 0.098),
           (0, 0.50, 0.015, 0.072, 0.09), (0, 0.54, 0.01, 0.045, 0.055)),
        (1, 0, 0), 26, 28, (12, 15), {15: 1}, domes=(0.5, 0.55), axis=(0.0, 1.0, 0.0))
    nose = Tube(
        "nose",
        _k((0, 0.43, 0.105, 0.012, 0.02), (0, 0.425, 0.125, 0.011, 0.016)),
        (1, 0, 0), 8, 3, (15,), {}, domes=(1.0, 0.8))
    return [torso, leg, foot, arm, hand, head, nose]


# Bones for skinning: joint → segment (start, end) in the mean rest shape, left side.
def _bone_ends(joints: np.ndarray) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    j = joints
    ends = {
        0: (np.array([0.0, -0.40, 0.02]), j[3]), 3: (j[3], j[6]), 6: (j[6], j[9]),
        9: (j[9], j[12]), 12: (j[12], j[15]), 15: (j[15], np.array([0.0, 0.56, 0.01])),
        1: (j[1], j[4]), 4: (j[4], j[7]), 7: (j[7], j[10]),
        10: (j[10], j[10] + np.array([0.005, -0.002, 0.07])),
        13: (j[13], j[16]), 16: (j[16], j[18]), 18: (j[18], j[20]), 20: (j[20], j[22]),
        22: (j[22], j[22] + np.array([0.1, -0.006, -0.003])),
    }
    for jl, jr in [(a, b) for a, b in MIRROR.items() if a in ends]:
        sign = np.array([-1.0, 1.0, 1.0])
        ends[jr] = (ends[jl][0] * sign, ends[jl][1] * sign)
    return ends


# ---- shape parameters (the shape basis is the finite difference of one unit of each) ----
SHAPE_NAMES = ("height", "girth", "leg_length", "arm_length", "shoulder_width", "hip_width",
               "belly", "head_size", "torso_length", "chest")


def _apply_shape(tubes: list[Tube], beta: np.ndarray) -> list[Tube]:
    """Deform the mean tubes' keyframes by shape parameters (one unit ~ one standard deviation)."""
    (_, girth, legs, arms, shoulders, hips, belly, head, torso_len, chest) = beta
    y_hip, x_sh, y_pelvis = 0.315, 0.17, 0.225
    out = []
    for t in tubes:
        k = t.keys.copy()
        x, y, z, r = k[:, 0], k[:, 1], k[:, 2], k[:, 3:5]
        if t.name in ("torso", "leg", "foot", "arm", "hand"):
            r *= 1 + 0.12 * girth
        elif t.name in ("head", "nose"):
            r *= 1 + 0.03 * girth
        if t.name in ("leg", "foot"):
            below = y < -y_hip
            y[below] = -y_hip + (y[below] + y_hip) * (1 + 0.06 * legs)
            x += 0.012 * hips
        if t.name in ("arm", "hand"):
            beyond = x > x_sh
            x[beyond] = x_sh + (x[beyond] - x_sh) * (1 + 0.06 * arms)
            x += 0.015 * shoulders
        if t.name == "torso":
            upper = (y > 0.15) & (y < 0.26)
            r[upper, 0] += 0.015 * shoulders
            r[y < -0.1, 0] += 0.015 * hips
            mid = (y > -0.15) & (y < 0.05)
            r[mid, 1] += 0.025 * belly
            z[mid] += 0.012 * belly
            chest_band = (y > 0.05) & (y < 0.2)
            r[chest_band, 1] += 0.02 * chest
            z[chest_band] += 0.01 * chest
        if t.name in ("head", "nose"):
            pivot = np.array(_JOINTS_LEFT[15])
            k[:, :3] = pivot + (k[:, :3] - pivot) * (1 + 0.06 * head)
            r *= 1 + 0.06 * head
        above = y > -y_pelvis
        y[above] = -y_pelvis + (y[above] + y_pelvis) * (1 + 0.05 * torso_len)
        out.append(Tube(**{**t.__dict__, "keys": k}))
    return out


def _mirror(t: Tube) -> Tube:
    keys = t.keys.copy()
    keys[:, 0] *= -1
    bones = tuple(MIRROR.get(b, b) for b in t.bones)
    joint_keys = {MIRROR.get(j, j): i for j, i in t.joint_keys.items()}
    return Tube(**{**t.__dict__, "keys": keys, "bones": bones, "joint_keys": joint_keys,
                   "side": -t.side, "name": t.name})


def _all_tubes(beta: np.ndarray) -> list[Tube]:
    left = _apply_shape(_left_tubes(), beta)
    return left + [_mirror(t) for t in left if t.side == 1]


# ---- tessellation ----
def _catmull_rom(keys: np.ndarray, counts: list[int]) -> tuple[np.ndarray, list[int]]:
    """Sample a uniform Catmull-Rom spline through keys; returns samples and keyframe rows."""
    pad = np.concatenate([2 * keys[:1] - keys[1:2], keys, 2 * keys[-1:] - keys[-2:-1]])
    samples, key_rows = [], []
    for i, n in enumerate(counts):
        p0, p1, p2, p3 = pad[i], pad[i + 1], pad[i + 2], pad[i + 3]
        key_rows.append(sum(len(s) for s in samples))
        t = (np.arange(n) / n)[:, None]
        seg = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                     + (-p0 + 3 * p1 - 3 * p2 + p3) * t**3)
        samples.append(seg)
    key_rows.append(sum(len(s) for s in samples))
    samples.append(keys[-1:])
    return np.concatenate(samples), key_rows


def _ring_counts(keys: np.ndarray, rings: int) -> list[int]:
    """Split `rings` (minus the last keyframe ring) over keyframe gaps by length."""
    lengths = np.linalg.norm(np.diff(keys[:, :3], axis=0), axis=1)
    n = rings - 1
    raw = lengths / lengths.sum() * n
    counts = np.maximum(1, np.floor(raw)).astype(int)
    while counts.sum() < n:
        counts[np.argmax(raw - counts)] += 1
    while counts.sum() > n:
        counts[np.argmax(np.where(counts > 1, counts - raw, -np.inf))] -= 1
    return counts.tolist()


def _frames(centres: np.ndarray, hint: np.ndarray, axis: tuple[float, float, float] | None
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ring frames: the tangent (or the tube's fixed axis) and two radius directions."""
    tangent = np.gradient(centres, axis=0) if axis is None else np.tile(axis, (len(centres), 1))
    tangent /= np.linalg.norm(tangent, axis=1, keepdims=True)
    n1 = hint - (tangent @ hint)[:, None] * tangent
    n1 /= np.linalg.norm(n1, axis=1, keepdims=True)
    n2 = np.cross(tangent, n1)
    return tangent, n1, n2


def _tessellate(t: Tube, counts: list[int]):
    """Vertices, faces (local indices) and keyframe ring rows of one closed tube."""
    samples, key_rows = _catmull_rom(t.keys, counts)
    centres, radii = samples[:, :3], samples[:, 3:5]
    tangent, n1, n2 = _frames(centres, np.asarray(t.hint, dtype=np.float64), t.axis)
    phi = 2 * np.pi * np.arange(t.segments) / t.segments
    c, s = np.cos(phi), np.sin(phi)
    norm = (np.abs(c) ** t.power + np.abs(s) ** t.power) ** (-1 / t.power)
    cx, sx = c * norm, s * norm
    # Domes: two shrinking rings and a pole at each end.
    dome_angles = np.deg2rad([35.0, 65.0])
    ring_c, ring_r, ring_n1, ring_n2 = [], [], [], []
    for a in dome_angles[::-1]:
        ring_c.append(centres[0] - tangent[0] * radii[0].mean() * t.domes[0] * np.sin(a))
        ring_r.append(radii[0] * np.cos(a))
        ring_n1.append(n1[0])
        ring_n2.append(n2[0])
    first = len(ring_c)
    for i in range(len(centres)):
        ring_c.append(centres[i])
        ring_r.append(radii[i])
        ring_n1.append(n1[i])
        ring_n2.append(n2[i])
    for a in dome_angles:
        ring_c.append(centres[-1] + tangent[-1] * radii[-1].mean() * t.domes[1] * np.sin(a))
        ring_r.append(radii[-1] * np.cos(a))
        ring_n1.append(n1[-1])
        ring_n2.append(n2[-1])
    rc, rr = np.array(ring_c), np.array(ring_r)
    rn1, rn2 = np.array(ring_n1), np.array(ring_n2)
    verts = (rc[:, None, :] + rr[:, None, 0:1] * cx[None, :, None] * rn1[:, None, :]
             + rr[:, None, 1:2] * sx[None, :, None] * rn2[:, None, :]).reshape(-1, 3)
    pole0 = centres[0] - tangent[0] * radii[0].mean() * t.domes[0]
    pole1 = centres[-1] + tangent[-1] * radii[-1].mean() * t.domes[1]
    verts = np.concatenate([verts, pole0[None], pole1[None]])
    nr, ns = len(rc), t.segments
    r = np.arange(nr - 1)[:, None]
    sg = np.arange(ns)[None, :]
    a, b = r * ns + sg, r * ns + (sg + 1) % ns
    cc, d = (r + 1) * ns + (sg + 1) % ns, (r + 1) * ns + sg
    sides = np.concatenate([np.stack([a, b, cc], -1).reshape(-1, 3),
                            np.stack([a, cc, d], -1).reshape(-1, 3)])
    p0, p1 = nr * ns, nr * ns + 1
    s0 = np.arange(ns)
    cap0 = np.stack([np.full(ns, p0), (s0 + 1) % ns, s0], -1)
    last = (nr - 1) * ns
    cap1 = np.stack([np.full(ns, p1), last + s0, last + (s0 + 1) % ns], -1)
    faces = np.concatenate([sides, cap0, cap1])
    tri = verts[faces]
    volume = np.einsum("ij,ij->i", tri[:, 0], np.cross(tri[:, 1], tri[:, 2])).sum()
    if volume < 0:
        faces = faces[:, ::-1]
    key_vertex_rows = {j: (first + key_rows[k]) * ns for j, k in t.joint_keys.items()}
    return verts, faces, key_vertex_rows


def _torso_rings_for_total(tubes: list[Tube]) -> int:
    """Torso ring count that makes the whole body exactly NUM_VERTICES vertices."""
    others = sum(t.segments * (t.rings + 4) + 2 for t in tubes if t.name != "torso")
    torso = next(t for t in tubes if t.name == "torso")
    rest = NUM_VERTICES - others - 2
    if rest % torso.segments:
        raise ValueError(f"{rest} torso vertices do not split into {torso.segments} segments")
    return rest // torso.segments - 4


@dataclass
class BodyGeometry:
    vertices: np.ndarray
    faces: np.ndarray
    joint_rings: dict[int, np.ndarray]  # joint → vertex ids of its ring
    tube_of_vertex: np.ndarray  # index into `tubes`
    tubes: list[Tube]


def build_geometry(beta: np.ndarray | None = None) -> BodyGeometry:
    """Tessellate the body for shape parameters `beta` (zeros = mean shape); fixed topology."""
    beta = np.zeros(NUM_BETAS) if beta is None else np.asarray(beta, dtype=np.float64)
    tubes = _all_tubes(beta)
    torso_rings = _torso_rings_for_total(_all_tubes(np.zeros(NUM_BETAS)))
    tubes = [Tube(**{**t.__dict__, "rings": torso_rings}) if t.name == "torso" else t
             for t in tubes]
    mean_tubes = _all_tubes(np.zeros(NUM_BETAS))
    verts, faces, owner, rings = [], [], [], {}
    base = 0
    for i, (t, tm) in enumerate(zip(tubes, mean_tubes, strict=True)):
        counts = _ring_counts(tm.keys, torso_rings if t.name == "torso" else t.rings)
        v, f, key_rows = _tessellate(t, counts)
        verts.append(v)
        faces.append(f + base)
        owner.append(np.full(len(v), i))
        for j, row in key_rows.items():
            rings[j] = base + row + np.arange(t.segments)
        base += len(v)
    vertices = np.concatenate(verts) * (1 + 0.045 * beta[0])
    return BodyGeometry(vertices, np.concatenate(faces), rings, np.concatenate(owner), tubes)


def _skinning_weights(geo: BodyGeometry, joints: np.ndarray) -> np.ndarray:
    """Smooth weights [V, 24]: Gaussian falloff of the distance to each candidate bone."""
    ends = _bone_ends(joints)
    v = geo.vertices
    weights = np.zeros((len(v), NUM_JOINTS))
    for i, t in enumerate(geo.tubes):
        ids = np.nonzero(geo.tube_of_vertex == i)[0]
        p = v[ids]
        dist2 = []
        for j in t.bones:
            a, b = ends[j]
            ab = b - a
            u = np.clip(((p - a) @ ab) / max(ab @ ab, 1e-12), 0, 1)
            dist2.append(((p - (a + u[:, None] * ab)) ** 2).sum(1))
        d2 = np.stack(dist2, 1)
        w = np.exp(-(d2 - d2.min(1, keepdims=True)) / (2 * t.sigma**2))
        w[w < 1e-3] = 0
        weights[ids[:, None], np.array(t.bones)[None, :]] = w / w.sum(1, keepdims=True)
    return weights


# Vertex ids smplx reads as extra joints (SMPL-H numbering) and where they sit on this body.
_KEYPOINTS = {
    "nose": (332, (0.0, 0.425, 0.15)), "reye": (6260, (-0.032, 0.445, 0.12)),
    "leye": (2800, (0.032, 0.445, 0.12)), "rear": (4071, (-0.085, 0.43, 0.0)),
    "lear": (583, (0.085, 0.43, 0.0)),
    "lthumb": (2746, (0.76, 0.21, -0.005)), "lindex": (2319, (0.87, 0.207, -0.03)),
    "lmiddle": (2445, (0.875, 0.207, -0.05)), "lring": (2556, (0.87, 0.207, -0.07)),
    "lpinky": (2673, (0.86, 0.207, -0.085)),
    "LBigToe": (3216, (0.105, -1.16, 0.17)), "LSmallToe": (3226, (0.15, -1.16, 0.13)),
    "LHeel": (3387, (0.09, -1.17, -0.1)),
}
for _name, (_vid, _pos) in list(_KEYPOINTS.items()):
    _mirror_name = {"l": "r", "L": "R"}.get(_name[0])
    if _mirror_name and _name not in ("leye", "lear"):
        _rid = {"lthumb": 6191, "lindex": 5782, "lmiddle": 5905, "lring": 6016,
                "lpinky": 6133, "LBigToe": 6617, "LSmallToe": 6624, "LHeel": 6787}[_name]
        _KEYPOINTS[_mirror_name + _name[1:]] = (_rid, (-_pos[0], _pos[1], _pos[2]))


def _keypoint_permutation(vertices: np.ndarray) -> np.ndarray:
    """order[new_id] = old_id, placing the nearest vertex to each keypoint at its SMPL id."""
    n = len(vertices)
    order = np.full(n, -1)
    used = np.zeros(n, dtype=bool)
    for vid, pos in _KEYPOINTS.values():
        d = np.linalg.norm(vertices - np.asarray(pos), axis=1)
        d[used] = np.inf
        old = int(np.argmin(d))
        order[vid] = old
        used[old] = True
    order[order < 0] = np.nonzero(~used)[0]
    return order


def build_model() -> dict[str, np.ndarray]:
    """All arrays of the model file (SMPL keys; float32 / int64 numpy arrays)."""
    mean = build_geometry()
    order = _keypoint_permutation(mean.vertices)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    joints = rest_joints()
    j_reg = np.zeros((NUM_JOINTS, NUM_VERTICES))
    for j, ring in mean.joint_rings.items():
        j_reg[j, inverse[ring]] = 1.0 / len(ring)
    shapedirs = np.zeros((NUM_VERTICES, 3, NUM_BETAS))
    for k in range(NUM_BETAS):
        beta = np.zeros(NUM_BETAS)
        beta[k] = 1.0
        shapedirs[:, :, k] = (build_geometry(beta).vertices - mean.vertices)[order]
    weights = _skinning_weights(mean, joints)[order]
    kintree = np.array([PARENTS, list(range(NUM_JOINTS))], dtype=np.int64)
    return {
        "v_template": mean.vertices[order].astype(np.float32),
        "shapedirs": shapedirs.astype(np.float32),
        "posedirs": np.zeros((NUM_VERTICES, 3, 207), dtype=np.float32),
        "J_regressor": j_reg.astype(np.float32),
        "weights": weights.astype(np.float32),
        "kintree_table": kintree,
        "f": inverse[mean.faces].astype(np.int32),
    }


class _ZerosPickler(pickle.Pickler):
    """Pickle all-zero arrays as a `numpy.zeros` call, so the 17 MB of zero pose correctives
    cost a few bytes; everything still unpickles to plain numpy arrays."""

    def reducer_override(self, obj):
        if isinstance(obj, np.ndarray) and obj.size > 1000 and not obj.any():
            return np.zeros, (obj.shape, obj.dtype.str)
        return NotImplemented


def save_model(arrays: dict[str, np.ndarray], path: Path) -> None:
    """Write the model as a pickle of a dict of numpy arrays (what smplx.SMPL reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        _ZerosPickler(fh, protocol=4).dump(arrays)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry: rebuild the shipped procedural body model file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("assets/body/procedural_smpl.pkl"),
                        help="where to write the model pickle")
    args = parser.parse_args(argv)
    save_model(build_model(), args.out)


if __name__ == "__main__":
    main()
