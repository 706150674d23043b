"""File-tree helpers shared by the dataset readers: find the dataset folder, list images, and turn
problems into one DatasetError naming the path and what was expected."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from reidkit.data.records import ImageRecord
from reidkit.errors import DatasetError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

# A name (path relative to its split folder) → record fields, or None when it does not fit.
NameParser = Callable[[str], dict | None]


def require_root(root: str | Path, fix: str) -> Path:
    """The dataset root as a Path, or an error when it does not exist or is not a folder."""
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetError("dataset root not found", path=root, fix=fix)
    if not root.is_dir():
        raise DatasetError("dataset root is not a folder", path=root, fix=fix)
    return root


def find_base(root: Path, subfolders: Sequence[str], markers: Sequence[str]) -> Path | None:
    """The first of `root` and `root/<sub>` holding any of `markers` (split folders, list files)."""
    for base in (root, *(root / sub for sub in subfolders)):
        if any((base / marker).exists() for marker in markers):
            return base
    return None


def require_dir(path: Path, what: str, fix: str) -> Path:
    """`path` if it is a folder, else an error saying which split folder is missing."""
    if not path.is_dir():
        raise DatasetError(f"missing {what} folder '{path.name}'", path=path, fix=fix)
    return path


def list_images(folder: Path, *, recursive: bool = False) -> list[str]:
    """Image names under `folder` (relative, '/'-separated, sorted); hidden files skipped."""
    names = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = Path(dirpath).relative_to(folder)
            for file in filenames:
                if not file.startswith(".") and file.lower().endswith(IMAGE_SUFFIXES):
                    names.append((rel / file).as_posix())
    else:
        with os.scandir(folder) as entries:
            for entry in entries:
                if (
                    entry.is_file()
                    and not entry.name.startswith(".")
                    and entry.name.lower().endswith(IMAGE_SUFFIXES)
                ):
                    names.append(entry.name)
    return sorted(names)


def require_images(folder: Path, names: list[str], what: str) -> list[str]:
    """`names` unless empty: an empty split folder is an error naming it."""
    if not names:
        raise DatasetError(
            f"no images ({', '.join(IMAGE_SUFFIXES)}) in the {what} folder",
            path=folder,
            fix="check that the dataset was extracted completely into this folder",
        )
    return names


def parse_split(
    folder: Path, names: list[str], split: str, parse: NameParser, expected: str
) -> list[ImageRecord]:
    """Records for `names` in `folder`; every unparsable name is counted and one is shown."""
    records, bad = [], []
    for name in names:
        fields = parse(name)
        if fields is None:
            bad.append(name)
            continue
        records.append(ImageRecord(path=folder / name, name=name, split=split, **fields))
    if bad:
        raise DatasetError(
            f"{len(bad)} of {len(names)} file names in the {split} folder do not match "
            f"{expected} (e.g. '{bad[0]}')",
            path=folder,
            fix="remove or rename files that are not dataset images, or pick the right --dataset",
        )
    return records
