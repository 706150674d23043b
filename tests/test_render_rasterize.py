"""The torch rasteriser against analytic shapes and a brute-force per-pixel reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reidkit.errors import ConfigError
from reidkit.render import (
    fit_camera,
    interpolate,
    project,
    rasterize,
    rasterize_screen,
    render_grey,
)
from reidkit.render.pytorch3d_backend import pytorch3d_available
from reidkit.render.rasterize import closed_mesh


def _inside_count(tri: np.ndarray, h: int, w: int) -> np.ndarray:
    """Pixel centres inside a 2D triangle (either winding), by edge signs: the test's oracle."""
    ys, xs = np.mgrid[0:h, 0:w] + 0.5

    def edge(a, b):
        return (b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0])

    e = [edge(tri[0], tri[1]), edge(tri[1], tri[2]), edge(tri[2], tri[0])]
    pos = (e[0] >= 0) & (e[1] >= 0) & (e[2] >= 0)
    neg = (e[0] <= 0) & (e[1] <= 0) & (e[2] <= 0)
    return pos | neg


@pytest.mark.parametrize("seed", range(6))
def test_triangle_coverage_matches_point_in_triangle(seed):
    rng = np.random.default_rng(seed)
    h, w = 48, 40
    scale = [3.0, 12.0, 60.0][seed % 3]  # tiny, medium and partly-outside triangles
    centre = rng.uniform([5, 5], [w - 5, h - 5])
    tri2d = centre + rng.normal(size=(3, 2)) * scale
    screen = torch.tensor(np.c_[tri2d, [1.0, 2.0, 3.0]][None], dtype=torch.float32)
    for faces in (torch.tensor([[0, 1, 2]]), torch.tensor([[0, 2, 1]])):
        frags = rasterize_screen(screen, faces, (h, w))
        expected = _inside_count(tri2d, h, w)
        got = (frags.face_index[0] >= 0).numpy()
        assert (got == expected).all(), f"{(got != expected).sum()} pixels differ"


def _brute_force(screen: np.ndarray, faces: np.ndarray, h: int, w: int):
    """Nearest face per pixel by looping over every face: an independent reference."""
    best = np.full((h, w), np.inf)
    index = np.full((h, w), -1)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    for f, (a, b, c) in enumerate(faces):
        p0, p1, p2 = screen[a], screen[b], screen[c]
        area = (p1[0] - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (p1[1] - p0[1])
        if abs(area) < 1e-9:
            continue
        l1 = ((xs - p0[0]) * (p2[1] - p0[1]) - (p2[0] - p0[0]) * (ys - p0[1])) / area
        l2 = ((p1[0] - p0[0]) * (ys - p0[1]) - (xs - p0[0]) * (p1[1] - p0[1])) / area
        l0 = 1 - l1 - l2
        inside = (l0 >= 0) & (l1 >= 0) & (l2 >= 0)
        z = l0 * p0[2] + l1 * p1[2] + l2 * p2[2]
        better = inside & (z < best)
        best[better] = z[better]
        index[better] = f
    return index, best


def test_random_soup_matches_brute_force_reference():
    rng = np.random.default_rng(3)
    h, w = 30, 22
    nv, nf = 60, 40
    screen = np.c_[rng.uniform(-3, w + 3, nv), rng.uniform(-3, h + 3, nv), rng.uniform(0, 5, nv)]
    faces = np.stack([rng.choice(nv, 3, replace=False) for _ in range(nf)])
    # Keep faces small-ish so the soup has both overlaps and gaps.
    centre = screen[faces].mean(1, keepdims=True)
    pts = (centre + (screen[faces] - centre) * 0.3).reshape(-1, 3)
    faces = np.arange(nf * 3).reshape(nf, 3)
    index, depth = _brute_force(pts, faces, h, w)
    frags = rasterize_screen(torch.tensor(pts[None], dtype=torch.float32), torch.tensor(faces),
                             (h, w), chunk=64)
    got = frags.face_index[0].numpy()
    assert (got >= 0).sum() > 100 and (got == -1).sum() > 50
    assert (got == index).mean() > 0.995  # ties on shared edges may pick either face
    both = (got >= 0) & (index >= 0)
    np.testing.assert_allclose(frags.depth[0].numpy()[both], depth[both], atol=1e-4)
    assert np.isinf(frags.depth[0].numpy()[got < 0]).all()


def _quad(x0, y0, x1, y1, z):
    verts = [[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]]
    return verts, [[0, 1, 2], [0, 2, 3]]


@pytest.mark.parametrize("near_first", [True, False])
def test_depth_order_of_overlapping_faces(near_first):
    near_v, near_f = _quad(4.2, 4.2, 20.3, 20.3, 1.0)
    far_v, far_f = _quad(10.1, 10.1, 30.7, 30.7, 5.0)
    parts = [(near_v, near_f), (far_v, far_f)] if near_first else [(far_v, far_f), (near_v, near_f)]
    verts = torch.tensor(parts[0][0] + parts[1][0], dtype=torch.float32)[None]
    faces = torch.tensor(parts[0][1] + [[i + 4 for i in f] for f in parts[1][1]])
    frags = rasterize_screen(verts, faces, (36, 36))
    near_ids = {0, 1} if near_first else {2, 3}
    overlap = frags.face_index[0, 12:20, 12:20]
    assert set(overlap.unique().tolist()) <= near_ids
    torch.testing.assert_close(frags.depth[0, 12:20, 12:20], torch.full((8, 8), 1.0))
    far_only = frags.face_index[0, 25, 25].item()
    assert far_only not in near_ids and far_only >= 0
    assert frags.depth[0, 25, 25].item() == pytest.approx(5.0)


def test_barycentrics_interpolate_pixel_centres():
    screen = torch.tensor([[[2.3, 1.7, 0.0], [27.9, 6.1, 2.0], [9.4, 29.2, 4.0]]])
    faces = torch.tensor([[0, 1, 2]])
    frags = rasterize_screen(screen, faces, (32, 32))
    uv = interpolate(frags, faces, screen[..., :2])
    mask = frags.face_index[0] >= 0
    ys, xs = torch.meshgrid(torch.arange(32) + 0.5, torch.arange(32) + 0.5, indexing="ij")
    torch.testing.assert_close(uv[0, ..., 0][mask], xs[mask], atol=1e-4, rtol=0)
    torch.testing.assert_close(uv[0, ..., 1][mask], ys[mask], atol=1e-4, rtol=0)
    torch.testing.assert_close(frags.barycentric[0][mask].sum(-1), torch.ones(int(mask.sum())))


def test_camera_convention_by_hand():
    # 256x128 image: the normalised square has side 256 and is centred, so xn = 0.25 lands at
    # u = 64 + 0.25 * 128 = 96 and yn = -0.5 at v = 128 - 0.5 * 128 = 64.
    verts = torch.tensor([[[0.5, -1.0, 7.0]]])
    cam = torch.tensor([[0.5, 0.0, 0.0]])
    torch.testing.assert_close(project(verts, cam, (256, 128)), torch.tensor([[[96.0, 64.0, 7.0]]]))
    # Translation is added before scaling: s * (x + tx).
    cam = torch.tensor([[2.0, 0.25, 0.5]])
    torch.testing.assert_close(project(verts, cam, (100, 100)),
                               torch.tensor([[[50 + 2 * 0.75 * 50, 50 + 2 * -0.5 * 50, 7.0]]]))


def _facing_triangle():
    verts = torch.tensor([[[-0.5, -0.5, 0.0], [0.5, -0.5, 0.0], [0.0, 0.6, 0.0]]])
    return verts, torch.tensor([[0, 1, 2]]), torch.tensor([[0.9, 0.0, 0.0]])


def test_shading_is_monotone_in_the_light_angle():
    verts, faces, cam = _facing_triangle()
    values = []
    for deg in range(0, 91, 10):
        t = math.radians(deg)
        light = (math.sin(t), 0.0, -math.cos(t))  # towards the camera at 0 degrees
        img = render_grey(verts, faces, cam, (40, 40), light=light)
        values.append(img[0][img[0] > 0].float().mean().item())
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))
    assert values[0] == pytest.approx(255 * 0.9, abs=1)  # ambient + diffuse, light head-on
    assert values[-1] == pytest.approx(255 * 0.3, abs=1)  # ambient only at grazing light


def test_render_grey_format_background_and_winding():
    verts, faces, cam = _facing_triangle()
    for size in [(256, 128), (64, 32), (50, 70)]:
        img = render_grey(verts, faces, cam, size)
        assert img.dtype == torch.uint8 and img.shape == (1, *size)
        assert img[0, 0, 0] == 0 and (img > 0).any()
    flipped = render_grey(verts, faces.flip(-1), cam)
    assert torch.equal(flipped, render_grey(verts, faces, cam))


def _cube(center, half):
    c = torch.tensor(center)
    corners = torch.tensor([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)],
                           dtype=torch.float32)
    faces = torch.tensor([[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
                          [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]])
    return c + half * corners, faces


def test_backface_culling_never_changes_a_closed_mesh():
    verts, faces = _cube([0.0, 0.0, 3.0], 0.5)
    assert closed_mesh(faces) and not closed_mesh(faces[:-1])
    rot = torch.linalg.matrix_exp(torch.tensor([[0, -0.4, 0.3], [0.4, 0, -0.5], [-0.3, 0.5, 0]]))
    verts = ((verts - verts.mean(0)) @ rot.T + verts.mean(0))[None]
    cam = torch.tensor([[0.8, 0.0, 0.0]])
    culled = rasterize(verts, faces, cam, (64, 64), cull_backfaces=True)
    full = rasterize(verts, faces, cam, (64, 64), cull_backfaces=False)
    inverted = rasterize(verts, faces.flip(-1), cam, (64, 64))
    assert (culled.face_index >= 0).sum() > 300
    for other in (full, inverted):
        assert (culled.face_index != other.face_index).float().mean() < 0.002
        both = (culled.face_index >= 0) & (other.face_index >= 0)
        torch.testing.assert_close(culled.depth[both], other.depth[both], atol=1e-4, rtol=0)


def test_batch_and_chunking_agree_with_single_renders():
    verts, faces = _cube([0.0, 0.0, 3.0], 0.5)
    batch = torch.stack([verts, verts * 0.7 + 0.1, verts.flip(0)])
    cams = torch.tensor([[0.8, 0.0, 0.0], [1.2, 0.1, -0.2], [0.5, -0.3, 0.1]])
    together = rasterize(batch, faces, cams, (40, 30))
    for i in range(3):
        alone = rasterize(batch[i : i + 1], faces, cams[i : i + 1], (40, 30))
        assert torch.equal(alone.face_index[0], together.face_index[i])
    screen = project(batch, cams, (40, 30))
    small = rasterize_screen(screen, faces, (40, 30), chunk=7)
    assert torch.equal(small.face_index, together.face_index)


def test_fit_camera_fills_the_crop():
    verts, faces = _cube([0.3, -0.2, 3.0], 0.5)
    cam = fit_camera(verts[None], (256, 128), fill=0.5)
    mask = rasterize(verts[None], faces, cam, (256, 128)).face_index[0] >= 0
    rows = mask.any(1).nonzero().squeeze(1)
    cols = mask.any(0).nonzero().squeeze(1)
    assert rows.max() - rows.min() + 1 == pytest.approx(128, abs=2)
    assert (rows.max() + rows.min()) / 2 == pytest.approx(127.5, abs=1.5)
    assert (cols.max() + cols.min()) / 2 == pytest.approx(63.5, abs=1.5)


def test_unknown_renderer_is_a_config_error():
    verts, faces, cam = _facing_triangle()
    with pytest.raises(ConfigError, match="unknown renderer"):
        render_grey(verts, faces, cam, renderer="opendr")


@pytest.mark.skipif(pytorch3d_available(), reason="pytorch3d is installed here")
def test_pytorch3d_missing_is_explained():
    verts, faces, cam = _facing_triangle()
    with pytest.raises(ConfigError, match="pytorch3d is not importable"):
        render_grey(verts, faces, cam, renderer="pytorch3d")


@pytest.mark.skipif(not pytorch3d_available(), reason="pytorch3d is not importable here")
def test_pytorch3d_silhouette_iou():
    from reidkit.body.model import load_body_model, pose_body
    from reidkit.body.poses import camera_orient, walking_pose, with_orient

    model = load_body_model("procedural")
    orient = camera_orient(torch.tensor([0.0, 70.0]))
    pose = with_orient(walking_pose(torch.tensor([0.3, 2.0])), orient)
    verts = pose_body(model, pose).vertices
    cams = fit_camera(verts, (256, 128))
    ours = rasterize(verts, model.faces_tensor, cams).face_index >= 0
    theirs = rasterize(verts, model.faces_tensor, cams, renderer="pytorch3d").face_index >= 0
    iou = (ours & theirs).sum() / (ours | theirs).sum()
    assert iou > 0.99


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="CUDA is not available")
def test_cuda_matches_cpu():
    verts, faces = _cube([0.0, 0.0, 3.0], 0.5)
    cam = torch.tensor([[0.8, 0.1, 0.0]])
    cpu = render_grey(verts[None], faces, cam, (64, 48))
    gpu = render_grey(verts[None].cuda(), faces.cuda(), cam.cuda(), (64, 48)).cpu()
    assert (cpu.int() - gpu.int()).abs().max() <= 1


def test_meshes_outside_the_image_or_empty_give_background():
    verts, faces = _cube([0.0, 0.0, 3.0], 0.5)
    cam = torch.tensor([[0.8, 5.0, 0.0]])  # far to the right of the crop
    frags = rasterize(verts[None].double(), faces, cam, (32, 16))
    assert (frags.face_index == -1).all() and torch.isinf(frags.depth).all()
    assert (render_grey(verts[None], faces, cam, (32, 16)) == 0).all()
    empty = rasterize_screen(torch.zeros(2, 3, 3), torch.zeros(0, 3, dtype=torch.long), (8, 8))
    assert empty.face_index.shape == (2, 8, 8) and (empty.face_index == -1).all()
