"""Tensors in the networks' spaces → uint8 pictures, and contact-sheet grids."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from PIL import Image

from reidkit.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """ImageNet-normalised (B, 3, H, W) → uint8 RGB (B, H, W, 3), rounded and clipped."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(1, 3, 1, 1)
    rgb = (x.detach().float() * std + mean).clamp(0, 1)
    return (rgb * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def mesh_to_uint8(mesh: torch.Tensor) -> np.ndarray:
    """A mesh batch normalised to [-1, 1] (B, 1, H, W) → uint8 RGB (B, H, W, 3)."""
    grey = ((mesh.detach().float() + 1) / 2).clamp(0, 1)
    grey = (grey * 255).round().to(torch.uint8).repeat(1, 3, 1, 1)
    return grey.permute(0, 2, 3, 1).cpu().numpy()


def grid(rows: Sequence[Sequence[np.ndarray]], pad: int = 2) -> Image.Image:
    """Tile rows of equally sized uint8 (H, W, 3) images with a white gap of `pad` pixels."""
    h, w = rows[0][0].shape[:2]
    cols = max(len(r) for r in rows)
    sheet = np.full((len(rows) * (h + pad) + pad, cols * (w + pad) + pad, 3), 255, np.uint8)
    for i, row in enumerate(rows):
        for j, tile in enumerate(row):
            y, x = pad + i * (h + pad), pad + j * (w + pad)
            sheet[y : y + h, x : x + w] = tile
    return Image.fromarray(sheet)
