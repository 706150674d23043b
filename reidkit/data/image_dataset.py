"""A torch Dataset over records: item = (transformed RGB image, index into the records)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from PIL import Image
from torch.utils.data import Dataset

from reidkit.data.records import ImageRecord
from reidkit.errors import DatasetError


def open_rgb(record: ImageRecord) -> Image.Image:
    """Open a record's image as RGB, with a clear error for an unreadable file."""
    try:
        with Image.open(record.path) as image:
            return image.convert("RGB")
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"cannot read image ({exc})", path=record.path, fix="replace or remove the file"
        ) from exc


class ImageDataset(Dataset):
    """Images of `records` through `transform`; the index lets callers find the record back."""

    def __init__(self, records: Sequence[ImageRecord], transform: Callable[[Any], Any] | None):
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        image = open_rgb(self.records[index])
        return (self.transform(image) if self.transform else image), index
