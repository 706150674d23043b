"""Renders per second of reidkit's torch rasteriser on SMPL-size body meshes (256x128, batch 32),
next to a naive vectorised z-buffer that tests a fixed 8x8 pixel box per face (the issue's
reference point), on CPU and on CUDA when present.

Meshes: the shipped procedural body (6,890 vertices, 13,736 faces; SMPL has 6,890 / 13,776) in
32 different walking poses and view-points, placed as HMR places a person in a 2:1 crop.

    .venv/bin/python benchmarks/bench_render.py [--batch 32] [--repeats 3] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import torch

from reidkit.body.model import load_body_model, pose_body
from reidkit.body.poses import camera_orient, walking_pose, with_orient
from reidkit.render import fit_camera, project, render_grey


def body_batch(batch: int, device: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Posed procedural bodies [B, V, 3], faces and cameras filling 90% of a 256x128 crop."""
    model = load_body_model("procedural", device)
    phase = torch.linspace(0, 2 * torch.pi, batch)
    pose = with_orient(walking_pose(phase), camera_orient(torch.linspace(0, 350, batch)))
    verts = pose_body(model, pose.to(device)).vertices
    return verts, model.faces_tensor, fit_camera(verts, (256, 128))


@torch.no_grad()
def naive_render(verts: torch.Tensor, faces: torch.Tensor, cams: torch.Tensor,
                 size: tuple[int, int] = (256, 128)) -> torch.Tensor:
    """Reference: every face tests the 8x8 pixels from its box corner; min depth via scatter."""
    h, w = size
    scr = project(verts, cams, size)
    tri = scr[:, faces]  # [B, F, 3, 3]
    x0 = torch.ceil(tri[..., 0].amin(-1) - 0.5)
    y0 = torch.ceil(tri[..., 1].amin(-1) - 0.5)
    off = torch.arange(8, device=verts.device, dtype=verts.dtype)
    px = (x0[..., None, None] + off[None, None, None, :]).expand(-1, -1, 8, 8)
    py = (y0[..., None, None] + off[None, None, :, None]).expand(-1, -1, 8, 8)
    cx, cy = px + 0.5, py + 0.5

    def edge(a, b):
        ax, ay = tri[..., a, 0, None, None], tri[..., a, 1, None, None]
        bx, by = tri[..., b, 0, None, None], tri[..., b, 1, None, None]
        return (bx - ax) * (cy - ay) - (by - ay) * (cx - ax)

    e0, e1, e2 = edge(1, 2), edge(2, 0), edge(0, 1)
    area = e0 + e1 + e2
    inside = (((e0 >= 0) & (e1 >= 0) & (e2 >= 0)) | ((e0 <= 0) & (e1 <= 0) & (e2 <= 0)))
    inside &= (px >= 0) & (px < w) & (py >= 0) & (py < h) & (area.abs() > 1e-9)
    z = (e0 * tri[..., 0, 2, None, None] + e1 * tri[..., 1, 2, None, None]
         + e2 * tri[..., 2, 2, None, None]) / area
    b = torch.arange(verts.shape[0], device=verts.device).view(-1, 1, 1, 1).expand_as(px)
    pix = (b * h * w + py.long() * w + px.long())[inside]
    depth = torch.full((verts.shape[0] * h * w,), float("inf"), device=verts.device)
    depth.scatter_reduce_(0, pix, z[inside], reduce="amin")
    return depth.view(-1, h, w)


def rate(fn, batch: int, repeats: int, sync) -> float:
    """Best renders/s over `repeats` timed runs after one warm-up."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return batch / best


def main() -> None:
    """Time both renderers on each available device and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="meshes per call")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (best is kept)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for torch")
    parser.add_argument("--skip-naive", action="store_true", help="time only reidkit's renderer")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        verts, faces, cams = body_batch(args.batch, device)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        label = f"{device} ({args.threads} threads)" if device == "cpu" else device
        fast = rate(partial(render_grey, verts, faces, cams), args.batch, args.repeats, sync)
        print(f"{label}: reidkit render_grey   {fast:8.1f} renders/s "
              f"({verts.shape[1]} vertices, {faces.shape[0]} faces, 256x128, batch {args.batch})")
        if not args.skip_naive:
            slow = rate(partial(naive_render, verts, faces, cams), args.batch, args.repeats, sync)
            print(f"{label}: naive 8x8-box z-buffer {slow:8.1f} renders/s (depth only)")
            print(f"{label}: speed-up {fast / slow:.1f}x")


if __name__ == "__main__":
    main()
