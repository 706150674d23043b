"""The record every reader yields and the dataset object every stage consumes."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SPLITS = ("train", "query", "gallery")


@dataclass(frozen=True)
class ImageRecord:
    """One person crop.

    `name` is the path relative to its split folder (MSMT17 keeps `<pid>/file.jpg`); it is the key
    used by the mesh layout. `camid` is 0-based (camera c1 → 0). `pid` is the file's identity
    (-1 junk, 0 Market distractor; never read for unsupervised training). `frame` and `session`
    are the time information in the name where there is one: Market frame + sequence (`s3`),
    Duke global frame (no session), MSMT17 frame + date/time slot (`0303morning`).
    """

    path: Path
    name: str
    pid: int
    camid: int
    split: str
    frame: int | None = None
    session: str | None = None


@dataclass
class ReidDataset:
    """A dataset's three splits as records, with its name and root."""

    name: str
    root: Path
    train: list[ImageRecord] = field(default_factory=list)
    query: list[ImageRecord] = field(default_factory=list)
    gallery: list[ImageRecord] = field(default_factory=list)

    def split(self, split: str) -> list[ImageRecord]:
        """Records of `train`, `query` or `gallery`."""
        if split not in SPLITS:
            raise ValueError(f"unknown split {split}")
        return getattr(self, split)

    def fingerprint(self) -> dict[str, Any]:
        """Counts and a hash of the file lists: checkpoints keep it to detect a changed dataset."""
        digest = hashlib.sha256()
        counts = {}
        for split in SPLITS:
            records = self.split(split)
            counts[split] = len(records)
            for record in records:
                digest.update(f"{split}/{record.name}\n".encode())
        return {"name": self.name, "counts": counts, "sha256": digest.hexdigest()}

    def summary(self) -> list[dict[str, Any]]:
        """Per split: images, identities, cameras (the numbers readers are checked against)."""
        rows = []
        for split in SPLITS:
            records = self.split(split)
            rows.append(
                {
                    "split": split,
                    "images": len(records),
                    "ids": len({r.pid for r in records}),
                    "cameras": len({r.camid for r in records}),
                }
            )
        return rows
