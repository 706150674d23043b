"""Mesh-pair dataset for the GAN stages: an image, its original render `s_ori` and one rotated
render `s_new` drawn uniformly among the new-view angles: all seven (`paper`, the default), or
45..270 only (`reference`: the authors' `randint(1, 7) * 45` never reaches 315).

Layout (what `reidkit mesh` writes, and the authors' archives):
`<mesh_root>/<mesh split>/render/<name>` and `render_<deg>/<name>` for deg in 45..315 by 45,
where mesh split is `train` for training images and `test` for query and gallery.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from reidkit.data.image_dataset import open_rgb
from reidkit.data.records import ImageRecord
from reidkit.data.transforms import DEFAULT_SIZE, test_transform
from reidkit.errors import DatasetError

ANGLES = (45, 90, 135, 180, 225, 270, 315)
VIEW_VARIANTS = {"paper": ANGLES, "reference": ANGLES[:-1]}
MESH_SPLIT = {"train": "train", "query": "test", "gallery": "test", "test": "test"}


def new_view_angles(variant: str) -> tuple[int, ...]:
    """The angles a new view is drawn from under `variant` (paper: 7, reference: 6)."""
    if variant not in VIEW_VARIANTS:
        raise ValueError(f"unknown view variant {variant}; choose from {tuple(VIEW_VARIANTS)}")
    return VIEW_VARIANTS[variant]


def mesh_transform(size: tuple[int, int]) -> T.Compose:
    """1 channel, bicubic resize to (h, w), to tensor, normalised with mean 0.5 std 0.5."""
    return T.Compose([
        T.Grayscale(1),
        T.Resize(tuple(size), interpolation=T.InterpolationMode.BICUBIC),
        T.ToTensor(),
        T.Normalize((0.5,), (0.5,)),
    ])


def mesh_path(mesh_root: str | Path, split: str, name: str, angle: int = 0) -> Path:
    """Render of image `name` of dataset split `split` at `angle` (0 = the original view)."""
    folder = "render" if angle == 0 else f"render_{int(angle)}"
    return Path(mesh_root) / MESH_SPLIT[split] / folder / name


def check_meshes(
    records: Sequence[ImageRecord], mesh_root: str | Path, split: str,
    angles: Sequence[int] = (0, *ANGLES),
) -> None:
    """One DatasetError naming how many renders are missing and an example path."""
    root = Path(mesh_root)
    if not root.is_dir():
        raise DatasetError("mesh folder not found", path=root,
                           fix="run `reidkit mesh` first, or pass --mesh-root to its output")
    missing = [mesh_path(root, split, r.name, a) for r in records for a in angles]
    missing = [p for p in missing if not p.is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} of {len(records) * len(angles)} renders missing for the "
            f"{len(records)} {split} images (e.g. {missing[0]})",
            path=root,
            fix="run `reidkit mesh` for this dataset (it resumes), or pass the right --mesh-root",
        )


def open_mesh(path: Path) -> Image.Image:
    """A render as a PIL image, with a clear error for an unreadable file."""
    try:
        with Image.open(path) as image:
            return image.convert("L")
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read render ({exc})", path=path,
                           fix="re-run `reidkit mesh` for this image") from exc


class MeshPairDataset(Dataset):
    """Item = (image, mesh_ori, mesh_new, index). The rotation is drawn uniformly from `angles`
    (`new_view_angles(variant)`; only those renders are checked) with torch's global RNG:
    wrap the dataset in `reidkit.train.rng.SeededItems` with a seed from (seed, epoch, index)
    to make every draw reproducible, in any loader worker."""

    def __init__(
        self,
        records: Sequence[ImageRecord],
        mesh_root: str | Path,
        split: str = "train",
        size: tuple[int, int] = DEFAULT_SIZE,
        angles: Sequence[int] = ANGLES,
    ):
        if split not in MESH_SPLIT:
            raise ValueError(f"unknown split {split}")
        self.records, self.mesh_root, self.split = list(records), Path(mesh_root), split
        self.angles = tuple(int(a) for a in angles)
        check_meshes(self.records, self.mesh_root, split, (0, *self.angles))
        self.image_tf, self.mesh_tf = test_transform(size), mesh_transform(size)

    def __len__(self) -> int:
        return len(self.records)

    def mesh(self, index: int, angle: int) -> torch.Tensor:
        """Render of record `index` at `angle` (0 = original), transformed."""
        path = mesh_path(self.mesh_root, self.split, self.records[index].name, angle)
        return self.mesh_tf(open_mesh(path))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
        angle = self.angles[int(torch.randint(len(self.angles), ()))]
        image = self.image_tf(open_rgb(self.records[index]))
        return image, self.mesh(index, 0), self.mesh(index, angle), index
