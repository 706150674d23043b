"""Image folders for scoring: recursive listing, one-size check and loading, each failure naming the
file, so a bad folder stops with a clear message before any costly network pass."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from reidkit.errors import DatasetError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def _skipped(parts: tuple[str, ...]) -> bool:
    """Hidden names (interrupted atomic writes) and `reidkit generate`'s contact sheets
    (`<split>/sheets/sheet_NNNN.png`) are not images to score."""
    if any(part.startswith(".") for part in parts):
        return True
    return len(parts) >= 2 and parts[-2] == "sheets" and parts[-1].startswith("sheet_")


def list_images(folder: str | Path) -> list[Path]:
    """Every image under `folder` (recursive), sorted by relative path; none is an error."""
    folder = Path(folder)
    if not folder.exists():
        raise DatasetError("image folder not found", path=folder, fix="check the path")
    if not folder.is_dir():
        raise DatasetError("not a folder", path=folder, fix="pass a folder of images")
    paths = sorted(
        (
            p
            for p in folder.rglob("*")
            if p.suffix.lower() in IMAGE_EXTENSIONS
            and not _skipped(p.relative_to(folder).parts)
            and p.is_file()
        ),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not paths:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_EXTENSIONS)}) in the folder or its sub-folders",
            path=folder,
            fix="point the option at the folder the images are in",
        )
    return paths


def _unreadable(path: Path, exc: Exception) -> DatasetError:
    return DatasetError(
        f"unreadable image ({type(exc).__name__}: {exc})",
        path=path,
        fix="delete or replace the file",
    )


def common_size(folder: str | Path, paths: Sequence[Path]) -> tuple[int, int]:
    """The (height, width) all images share (from headers); name two examples if they differ."""
    first: dict[tuple[int, int], Path] = {}
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError) as exc:
            raise _unreadable(path, exc) from exc
        first.setdefault((height, width), path)
        if len(first) > 1:
            (size_a, path_a), (size_b, path_b) = first.items()
            raise DatasetError(
                f"images of different sizes: {path_a} is {size_a[0]}x{size_a[1]}, "
                f"{path_b} is {size_b[0]}x{size_b[1]} (HxW)",
                path=folder,
                fix="pass --resize HxW to resize every image to one size",
            )
    return next(iter(first))


def load_rgb(path: Path, resize: tuple[int, int] | None = None) -> Image.Image:
    """Decode an image as RGB (as pytorch-fid does), resized to (h, w) with bicubic when asked."""
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise _unreadable(path, exc) from exc
    if resize is not None and rgb.size != (resize[1], resize[0]):
        rgb = rgb.resize((resize[1], resize[0]), Image.BICUBIC)
    return rgb


def load_array(path: Path, resize: tuple[int, int] | None, grey: bool) -> np.ndarray:
    """uint8 pixels for SSIM: H×W greyscale (PIL's ITU-R 601 luma) or H×W×3 RGB."""
    image = load_rgb(path, resize)
    return np.asarray(image.convert("L") if grey else image)
