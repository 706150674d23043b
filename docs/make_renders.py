"""Draw docs/renders.png: the procedural body in two walking poses, original view and the
seven rotations (45..315 degrees) that `reidkit mesh` renders, at the default 256x128.

    .venv/bin/python docs/make_renders.py [--out docs/renders.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit.body.model import load_body_model, pose_body
from reidkit.body.poses import camera_orient, walking_pose, with_orient
from reidkit.body.rotation import DEFAULT_ANGLES, rotate_vertical
from reidkit.io import save_image
from reidkit.render import fit_camera, render_grey


def main() -> None:
    """Render the grid and write it as one PNG (rows: poses; columns: 0, 45, ..., 315 deg)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("renders.png"),
                        help="PNG to write")
    args = parser.parse_args()
    model = load_body_model("procedural")
    pose = with_orient(walking_pose(torch.tensor([0.6, 2.2])),
                       camera_orient(torch.tensor([0.0, 20.0])))
    verts = pose_body(model, pose).vertices  # [2, V, 3] in the camera frame
    views = torch.cat([verts[:, None], rotate_vertical(verts, DEFAULT_ANGLES)], dim=1)
    cams = fit_camera(verts, (256, 128), fill=0.85).repeat_interleave(views.shape[1], 0)
    images = render_grey(views.reshape(-1, verts.shape[1], 3), model.faces_tensor, cams)
    rows, cols = verts.shape[0], views.shape[1]
    grid = images.reshape(rows, cols, 256, 128).permute(0, 2, 1, 3).reshape(rows * 256, cols * 128)
    grid = grid.numpy().copy()
    grid[:, 128::128] = 60  # thin separators between the views
    save_image(Image.fromarray(np.ascontiguousarray(grid)), args.out)


if __name__ == "__main__":
    main()
