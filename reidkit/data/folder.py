"""A generic folder of person crops (a user's own data).

Layout: `root/train/`, `root/query/`, `root/gallery/` (train alone, query + gallery alone, or all
three), or a root without those folders, read as train only. Inside a split folder, images sit
directly (identity = the leading integer of the name, `0007_anything.jpg`, else unknown = −1) or
in one sub-folder per identity (`train/<identity>/x.jpg`; integer folder names are the pid, other
names are numbered in sorted order across splits). Query and gallery images need an identity.

Camera: `camera_regex` with one group, searched in the name (path relative to the split folder);
its distinct values, sorted, become camera 0, 1, ... Without it, train and query images get
camera 0 and gallery images camera 1, so the evaluation's same-camera rule removes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.data.scan import list_images, require_images, require_root
from reidkit.errors import ConfigError, DatasetError

SPLITS = ("train", "query", "gallery")
LEADING_PID = re.compile(r"^(-?\d+)_")
FIX = ("--data-root must hold train/ and/or query/ + gallery/ folders of images, or be a folder "
       "of training images (see docs/datasets.md)")


def compile_camera_regex(pattern: str) -> re.Pattern[str]:
    """The user's camera regex, checked to compile and to have exactly one group."""
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"--camera-regex '{pattern}' is not a valid regular expression: {exc}",
                          fix="e.g. --camera-regex '_c(\\d+)'") from exc
    if regex.groups != 1:
        raise ConfigError(f"--camera-regex '{pattern}' has {regex.groups} groups, needs exactly 1",
                          fix="e.g. --camera-regex '_c(\\d+)' (the group is the camera id)")
    return regex


def _split_folders(root: Path) -> dict[str, Path]:
    present = {split: root / split for split in SPLITS if (root / split).is_dir()}
    if not present:
        return {"train": root}
    if ("query" in present) != ("gallery" in present):
        have, lack = ("query", "gallery") if "query" in present else ("gallery", "query")
        raise DatasetError(f"missing {lack} folder '{lack}' ({have}/ is there; they go together)",
                           path=root / lack, fix=FIX)
    return present


def _sorted_keys(values: set[str]) -> dict[str, int]:
    """Map distinct strings to 0..n-1, numerically when all are integers."""
    numeric = all(v.lstrip("-").isdigit() for v in values)
    order = sorted(values, key=int) if numeric else sorted(values)
    return {value: index for index, value in enumerate(order)}


def _identity_table(names: dict[str, list[str]]) -> dict[str, int]:
    """pid of each identity sub-folder name, shared across splits."""
    folders = {n.split("/")[0] for split in names.values() for n in split if "/" in n}
    if all(f.lstrip("-").isdigit() for f in folders):
        return {f: int(f) for f in folders}
    return _sorted_keys(folders)


def _pid(name: str, identities: dict[str, int]) -> int:
    if "/" in name:
        return identities[name.split("/")[0]]
    match = LEADING_PID.match(name)
    return int(match.group(1)) if match else -1


def read_folder(root: str | Path, camera_regex: str | None = None) -> ReidDataset:
    """Read a generic folder of crops (layout in the module docstring)."""
    regex = compile_camera_regex(camera_regex) if camera_regex else None
    root = require_root(root, FIX)
    folders = _split_folders(root)
    names = {s: require_images(f, list_images(f, recursive=True), s) for s, f in folders.items()}
    identities = _identity_table(names)
    cameras: dict[str, dict[str, str]] = {split: {} for split in names}
    if regex is not None:
        for split, split_names in names.items():
            bad = []
            for name in split_names:
                match = regex.search(name)
                if match is None or match.group(1) is None:
                    bad.append(name)
                else:
                    cameras[split][name] = match.group(1)
            if bad:
                raise DatasetError(
                    f"{len(bad)} of {len(split_names)} names in the {split} folder do not match "
                    f"--camera-regex '{regex.pattern}' (e.g. '{bad[0]}')",
                    path=folders[split],
                    fix="adjust the regex (its one group is the camera id) or rename the files",
                )
    camera_ids = _sorted_keys({c for split in cameras.values() for c in split.values()})
    splits: dict[str, list[ImageRecord]] = {}
    for split, split_names in names.items():
        default_cam = 1 if split == "gallery" else 0
        records = [
            ImageRecord(
                path=folders[split] / name,
                name=name,
                pid=_pid(name, identities),
                camid=camera_ids[cameras[split][name]] if regex is not None else default_cam,
                split=split,
            )
            for name in split_names
        ]
        unknown = [r.name for r in records if r.pid < 0]
        if split != "train" and unknown:
            raise DatasetError(
                f"{len(unknown)} of {len(records)} {split} images have no identity "
                f"(e.g. '{unknown[0]}')",
                path=folders[split],
                fix="evaluation needs identities: one sub-folder per identity, or names starting "
                "with the id (0007_x.jpg)",
            )
        splits[split] = records
    return ReidDataset(name="folder", root=root, **splits)
