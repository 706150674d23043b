"""Market-1501 and DukeMTMC-reID: three folders of crops whose names carry pid, camera and frame.

Market `0002_c1s1_000451_03.jpg` = pid 2, camera 1, sequence s1, frame 451, box 3;
Duke `0001_c2_f0046182.jpg` = pid 1, camera 2, global frame 46182. pid −1 ("junk") gallery
images are dropped, pid 0 (Market distractors) are kept as negatives.
"""

from __future__ import annotations

import re
from pathlib import Path

from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.data.scan import (
    NameParser,
    find_base,
    list_images,
    parse_split,
    require_dir,
    require_images,
    require_root,
)
from reidkit.errors import DatasetError

SPLIT_FOLDERS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
MARKET_RE = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)")
DUKE_RE = re.compile(r"^(-?\d+)_c(\d+)_f(\d+)")
# the folder levels the three split folders may sit under, and the name pattern errors quote
MARKET_LEVELS = ("Market-1501-v15.09.15", "Market-1501", "market1501")
DUKE_LEVELS = ("DukeMTMC-reID", "dukemtmc-reid", "dukemtmcreid")
MARKET_PATTERN = "the Market pattern PID_cCsS_FRAME_BOX.jpg (e.g. 0002_c1s1_000451_03.jpg)"
DUKE_PATTERN = "the Duke pattern PID_cC_fFRAME.jpg (e.g. 0001_c2_f0046182.jpg)"
JUNK_PID = -1


def _market_name(name: str) -> dict | None:
    match = MARKET_RE.match(name)
    if match is None or int(match.group(2)) < 1:
        return None
    pid, cam, seq, frame = (int(g) for g in match.groups())
    return {"pid": pid, "camid": cam - 1, "frame": frame, "session": f"s{seq}"}


def _duke_name(name: str) -> dict | None:
    match = DUKE_RE.match(name)
    if match is None or int(match.group(2)) < 1:
        return None
    pid, cam, frame = (int(g) for g in match.groups())
    return {"pid": pid, "camid": cam - 1, "frame": frame, "session": None}


def _read(
    name: str,
    root: str | Path,
    subfolders: tuple[str, ...],
    parse: NameParser,
    expected: str,
) -> ReidDataset:
    folders = ", ".join(SPLIT_FOLDERS.values())
    fix = f"--data-root must hold {folders} (directly or in {' or '.join(subfolders)}/)"
    root = require_root(root, fix)
    base = find_base(root, subfolders, tuple(SPLIT_FOLDERS.values()))
    if base is None:
        raise DatasetError(f"not a {name} folder: none of {folders} found", path=root, fix=fix)
    splits: dict[str, list[ImageRecord]] = {}
    for split, folder_name in SPLIT_FOLDERS.items():
        folder = require_dir(base / folder_name, split, fix)
        names = require_images(folder, list_images(folder), split)
        records = parse_split(folder, names, split, parse, expected)
        if split != "train":
            records = [r for r in records if r.pid != JUNK_PID]
        splits[split] = records
    return ReidDataset(name=name, root=base, **splits)


def read_market(root: str | Path) -> ReidDataset:
    """Market-1501, with or without the `Market-1501-v15.09.15/` level."""
    return _read("market", root, MARKET_LEVELS, _market_name, MARKET_PATTERN)


def read_duke(root: str | Path) -> ReidDataset:
    """DukeMTMC-reID, with or without the `DukeMTMC-reID/` level."""
    return _read("duke", root, DUKE_LEVELS, _duke_name, DUKE_PATTERN)
