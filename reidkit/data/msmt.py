"""MSMT17 V1 (`train/`, `test/`) and V2 (`mask_train_v2/`, `mask_test_v2/`): splits come from the
list files, one `pid_folder/name.jpg PID` per line; train = list_train + list_val.

Names `0000_000_01_0303morning_0008_0.jpg` = pid, index, camera (01–15), date + time slot,
frame, and a last field kept unread.
"""

from __future__ import annotations

from pathlib import Path

from reidkit.data.records import ImageRecord, ReidDataset
from reidkit.data.scan import find_base, require_dir, require_root
from reidkit.errors import DatasetError

VERSIONS = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}
LISTS = {"train": ("list_train.txt", "list_val.txt"), "query": ("list_query.txt",),
         "gallery": ("list_gallery.txt",)}
FIX = ("--data-root must be MSMT17_V1/ (train/, test/, list_*.txt) or MSMT17_V2/ "
       "(mask_train_v2/, mask_test_v2/, list_*.txt), or the folder holding one of them")


def _name_fields(name: str) -> dict | None:
    parts = Path(name).name.split("_")
    if len(parts) < 5 or not (parts[2].isdigit() and parts[4].isdigit()) or int(parts[2]) < 1:
        return None
    return {"camid": int(parts[2]) - 1, "frame": int(parts[4]), "session": parts[3]}


def _read_list(list_file: Path, folder: Path, split: str) -> list[ImageRecord]:
    if not list_file.is_file():
        raise DatasetError(f"missing list file '{list_file.name}'", path=list_file, fix=FIX)
    lines = [line.split() for line in list_file.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line]
    bad = [" ".join(line) for line in lines
           if len(line) != 2 or not line[1].lstrip("-").isdigit() or _name_fields(line[0]) is None]
    if bad:
        raise DatasetError(
            f"{len(bad)} of {len(lines)} lines do not read "
            f"'PIDDIR/PID_IDX_CAM_DATESLOT_FRAME_N.jpg PID' (e.g. '{bad[0]}')",
            path=list_file,
            fix="use the list files shipped with MSMT17",
        )
    if not lines:
        raise DatasetError("list file is empty", path=list_file, fix=FIX)
    missing = [name for name, _ in lines if not (folder / name).is_file()]
    if missing:
        raise DatasetError(
            f"{len(missing)} of {len(lines)} images listed in {list_file.name} are not in "
            f"{folder.name}/ (e.g. '{missing[0]}')",
            path=folder,
            fix="extract the whole archive; the list files and image folders must match",
        )
    return [
        ImageRecord(path=folder / name, name=name, pid=int(pid), split=split, **_name_fields(name))
        for name, pid in lines
    ]


def read_msmt(root: str | Path) -> ReidDataset:
    """MSMT17 V1 or V2 (detected from the folders present)."""
    root = require_root(root, FIX)
    markers = [folder for pair in VERSIONS.values() for folder in pair]
    base = find_base(root, (*VERSIONS, "MSMT17"), markers)
    if base is None:
        raise DatasetError(
            f"not an MSMT17 folder: none of {', '.join(markers)} found", path=root, fix=FIX
        )
    train_dir, test_dir = next(pair for pair in VERSIONS.values() if (base / pair[0]).exists()
                               or (base / pair[1]).exists())
    folders = {"train": require_dir(base / train_dir, "train", FIX),
               "query": require_dir(base / test_dir, "test", FIX)}
    folders["gallery"] = folders["query"]
    splits = {
        split: [r for name in LISTS[split] for r in _read_list(base / name, folders[split], split)]
        for split in LISTS
    }
    return ReidDataset(name="msmt", root=base, **splits)
