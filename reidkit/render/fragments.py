"""What a rasteriser hands to shading: the visible face, barycentrics and depth of each pixel."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class Fragments(NamedTuple):
    """Per-pixel result of rasterisation.

    face_index: [B, H, W] long, the visible face (index into `faces`), -1 for background.
    barycentric: [B, H, W, 3] float, weights of the face's three vertices at the pixel centre
        (zeros on background).
    depth: [B, H, W] float, camera z of the visible surface (+inf on background).
    """

    face_index: Tensor
    barycentric: Tensor
    depth: Tensor
