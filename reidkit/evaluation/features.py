"""Retrieval features of a split: batched forward passes, optional flip averaging, L2-normalised."""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from reidkit import log
from reidkit.data.image_dataset import ImageDataset
from reidkit.data.records import ImageRecord
from reidkit.data.transforms import DEFAULT_SIZE, test_transform
from reidkit.device import autocast, resolve_device


def embedding_of(output: torch.Tensor | tuple | list) -> torch.Tensor:
    """The retrieval feature of a model output: E_id returns (f_id, f), plain models a tensor."""
    return output[1] if isinstance(output, (tuple, list)) else output


def default_workers(device: torch.device) -> int:
    """Loader processes: none on CPU (the model is the bottleneck), several on GPU."""
    return min(8, os.cpu_count() or 1) if device.type == "cuda" else 0


@torch.no_grad()
def extract_features(
    model: nn.Module,
    records: Sequence[ImageRecord],
    *,
    size: tuple[int, int] = DEFAULT_SIZE,
    batch_size: int = 64,
    device: str | torch.device = "auto",
    flip: bool = False,
    amp: bool = False,
    num_workers: int | None = None,
    desc: str = "features",
) -> torch.Tensor:
    """Features [N, D] (CPU, float32, unit norm) of `records` in their order; `flip` averages each
    image with its horizontal mirror before normalising."""
    device = resolve_device(device) if isinstance(device, str) else device
    workers = default_workers(device) if num_workers is None else num_workers
    loader = DataLoader(
        ImageDataset(records, test_transform(size)),
        batch_size=batch_size,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
    )
    was_training = model.training
    model.to(device).eval()
    out = torch.empty(0)
    try:
        with log.task(desc, total=len(records)) as progress:
            chunks = []
            for images, _ in loader:
                images = images.to(device, non_blocking=True)
                with autocast(device, amp):
                    feats = embedding_of(model(images)).float()
                    if flip:
                        feats = feats + embedding_of(model(images.flip(3))).float()
                chunks.append(F.normalize(feats, dim=1).cpu())
                progress.advance(len(images))
            if chunks:
                out = torch.cat(chunks)
    finally:
        model.train(was_training)
    return out
