"""Tiny Market-layout dataset with matching mesh renders, for the generator tests (used until the
shared `synth_root` / `mesh_root` fixtures are available, and kept small for speed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reidkit.data.mesh_pairs import ANGLES
from reidkit.io import save_torch
from reidkit.models.identity import IdentityEncoder
from reidkit.runs import save_stage

FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}


def _silhouette(h: int, w: int, angle: int, offset: float) -> np.ndarray:
    """A body-like blob whose width changes with the rotation angle."""
    yy, xx = np.mgrid[0:h, 0:w]
    width = 0.22 + 0.1 * abs(np.cos(np.radians(angle)))
    body = ((xx / w - 0.5 - offset) / width) ** 2 + ((yy / h - 0.55) / 0.4) ** 2 < 1
    head = ((xx / w - 0.5 - offset) / 0.12) ** 2 + ((yy / h - 0.12) / 0.08) ** 2 < 1
    return body | head


def make_market(root: Path, *, ids: int = 3, per_id: int = 2, size=(96, 48)) -> Path:
    """Market-style folders; every image's person has an identity colour over a grey ground."""
    rng = np.random.default_rng(0)
    h, w = size
    for split, folder in FOLDERS.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        for pid in range(1, ids + 1):
            colour = rng.integers(30, 225, 3)
            for k in range(per_id if split != "query" else 1):
                cam = 1 + (k + (split == "query")) % 2
                name = f"{pid:04d}_c{cam}s1_{100 * pid + k:06d}_00.jpg"
                mask = _silhouette(h, w, 0, 0.05 * (k - 0.5))
                img = np.full((h, w, 3), 120, np.uint8)
                img[mask] = colour
                Image.fromarray(img).save(root / folder / name, quality=95)
    return root


def make_meshes(data_root: Path, mesh_root: Path, size=(96, 48)) -> Path:
    """Renders for every image in the layout `reidkit mesh` writes."""
    h, w = size
    for split, folder in FOLDERS.items():
        mesh_split = "train" if split == "train" else "test"
        for path in sorted((data_root / folder).glob("*.jpg")):
            k = int(path.stem.split("_")[2]) % 100
            for angle in (0, *ANGLES):
                sub = "render" if angle == 0 else f"render_{angle}"
                out = mesh_root / mesh_split / sub / path.name
                out.parent.mkdir(parents=True, exist_ok=True)
                mask = _silhouette(h, w, angle, 0.05 * (k - 0.5))
                Image.fromarray(np.where(mask, 200, 0).astype(np.uint8)).save(out)
    return mesh_root


def make_warmup_run(run: Path, data_root: Path, size=(96, 48), arch: str = "resnet18") -> Path:
    """A warmup.pt as issue 5 writes it (random E_id weights)."""
    torch.manual_seed(0)
    model = IdentityEncoder(arch)
    save_stage(run / "warmup.pt", stage="warmup", models={"E_id": model.state_dict()},
               config={"dataset": "market", "data_root": str(data_root), "arch": arch,
                       "size": list(size), "baseline": "jvtc"},
               epoch=1, extra={"eval_temporal": False})
    return run / "warmup.pt"


def save_plain(obj, path: Path) -> Path:
    """torch.save through the atomic writer."""
    save_torch(obj, path)
    return path
