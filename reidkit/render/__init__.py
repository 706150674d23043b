"""Mesh rendering: a vectorised PyTorch z-buffer rasteriser (CPU/CUDA), grey Lambertian shading,
and an optional pytorch3d backend. Camera and pixel convention: `reidkit.render.camera`."""

from reidkit.render.camera import fit_camera, project
from reidkit.render.fragments import Fragments
from reidkit.render.rasterize import rasterize, rasterize_screen
from reidkit.render.shading import DEFAULT_LIGHT, interpolate, lambert, render_grey, vertex_normals

__all__ = [
    "DEFAULT_LIGHT",
    "Fragments",
    "fit_camera",
    "interpolate",
    "lambert",
    "project",
    "rasterize",
    "rasterize_screen",
    "render_grey",
    "vertex_normals",
]
