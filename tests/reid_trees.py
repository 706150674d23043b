"""Tiny dataset file trees for the dataset and evaluation tests (Market, Duke, MSMT17, folder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_image(path: Path, seed: int, size: tuple[int, int] = (32, 16)) -> None:
    """A small random RGB JPEG (h, w) whose colour depends on `seed`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, 3)
    noise = rng.integers(-30, 30, (*size, 3))
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def market_name(pid: int, cam: int, seq: int, frame: int, box: int = 1) -> str:
    """A Market-1501 file name."""
    head = "-1" if pid < 0 else f"{pid:04d}"
    return f"{head}_c{cam}s{seq}_{frame:06d}_{box:02d}.jpg"


def make_market(root: Path, *, version_folder: bool = False) -> Path:
    """A Market tree: train 3 ids × 2 cams; query ids 10, 11 on cams 1/2; gallery adds a junk
    (−1) and a distractor (0000). Returns the root to pass as --data-root."""
    base = root / "Market-1501-v15.09.15" if version_folder else root
    seed = 0
    for pid in (1, 2, 3):
        for cam in (1, 2):
            seed += 1
            write_image(base / "bounding_box_train" / market_name(pid, cam, 1, 100 * seed), seed)
    for pid, cam in ((10, 1), (11, 2)):
        seed += 1
        write_image(base / "query" / market_name(pid, cam, 2, 50 + seed), pid)
    gallery = [(10, 1, 5), (10, 2, 6), (10, 3, 7), (11, 1, 8), (11, 2, 9), (0, 4, 10),
               (-1, 1, 11), (-1, 3, 12)]
    for pid, cam, frame in gallery:
        write_image(base / "bounding_box_test" / market_name(pid, cam, 3, frame), max(pid, 0) + cam)
    return root


def make_duke(root: Path) -> Path:
    """A Duke tree under `DukeMTMC-reID/`."""
    base = root / "DukeMTMC-reID"
    for pid, cam, frame in ((1, 1, 46182), (1, 2, 46300), (2, 3, 1000), (2, 8, 1200)):
        write_image(base / "bounding_box_train" / f"{pid:04d}_c{cam}_f{frame:07d}.jpg", frame)
    write_image(base / "query" / "0005_c1_f0000100.jpg", 5)
    for pid, cam, frame in ((5, 2, 200), (5, 1, 300), (6, 2, 400)):
        write_image(base / "bounding_box_test" / f"{pid:04d}_c{cam}_f{frame:07d}.jpg", pid + cam)
    return root


def msmt_name(pid: int, index: int, cam: int, slot: str, frame: int) -> str:
    """An MSMT17 list entry path (`PIDDIR/name.jpg`)."""
    return f"{pid:04d}/{pid:04d}_{index:03d}_{cam:02d}_{slot}_{frame:04d}_0.jpg"


def make_msmt(root: Path, version: int = 1) -> Path:
    """An MSMT17 V1 or V2 tree with list files; train = list_train (2 ids) + list_val (1 id)."""
    base = root / f"MSMT17_V{version}"
    train_dir, test_dir = ("train", "test") if version == 1 else ("mask_train_v2", "mask_test_v2")
    lists = {
        "list_train.txt": (train_dir, [(0, 0, 1, "0303morning", 8), (0, 1, 2, "0303morning", 9),
                                       (1, 0, 3, "0113noon", 100)]),
        "list_val.txt": (train_dir, [(2, 0, 15, "0302afternoon", 7)]),
        "list_query.txt": (test_dir, [(0, 0, 1, "0113morning", 5), (1, 0, 4, "0113morning", 6)]),
        "list_gallery.txt": (test_dir, [(0, 1, 2, "0113morning", 30), (0, 2, 1, "0113morning", 31),
                                        (1, 1, 5, "0113noon", 40), (2, 0, 6, "0113noon", 41)]),
    }
    for list_name, (folder, entries) in lists.items():
        lines = []
        for pid, index, cam, slot, frame in entries:
            name = msmt_name(pid, index, cam, slot, frame)
            write_image(base / folder / name, pid * 7 + cam)
            lines.append(f"{name} {pid}")
        base.mkdir(parents=True, exist_ok=True)
        (base / list_name).write_text("\n".join(lines) + "\n")
    return root


# warm-up settings that train on make_two_colour_market in seconds (resnet18, no download)
TINY_WARMUP = {
    "arch": "resnet18",
    "pretrained": "none",
    "size": (64, 32),
    "workers": 0,
    "device": "cpu",
    "k1": 6,
    "k2": 2,
    "eval_batch_size": 32,
}


def make_two_colour_market(root: Path) -> Path:
    """8 identities × 3 cameras, each person two colours (top, bottom) plus noise, 64×32 Market
    names: train 2 shots per camera, query on camera 1, gallery on cameras 2 and 3."""
    rng = np.random.default_rng(0)
    looks = rng.integers(0, 255, (8, 2, 3))
    plan = {
        "bounding_box_train": [(c, n) for c in (1, 2, 3) for n in range(2)],
        "query": [(1, 9)],
        "bounding_box_test": [(2, 8), (3, 8)],
    }
    for folder, shots in plan.items():
        (root / folder).mkdir()
        for pid in range(8):
            for cam, n in shots:
                image = np.empty((64, 32, 3))
                image[:32], image[32:] = looks[pid, 0], looks[pid, 1]
                image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
                name = f"{pid + 1:04d}_c{cam}s1_{100 * n + 50 * cam:06d}_01.jpg"
                Image.fromarray(image).save(root / folder / name)
    return root
