"""Inception pool features of an image folder, in batches on the chosen device, cached."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch.utils.data import DataLoader, Dataset

from reidkit import log
from reidkit.scoring import cache
from reidkit.scoring.images import load_rgb
from reidkit.scoring.inception import InceptionInfo


class FolderImages(Dataset):
    """Images as [0, 1] RGB tensors, pytorch-fid's input convention."""

    def __init__(self, paths: Sequence[Path], resize: tuple[int, int] | None = None):
        self.paths, self.resize = list(paths), resize

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return TF.to_tensor(load_rgb(self.paths[index], self.resize))


@torch.no_grad()
def compute_activations(
    model: torch.nn.Module,
    paths: Sequence[Path],
    *,
    resize: tuple[int, int] | None = None,
    batch_size: int = 50,
    device: torch.device | str = "cpu",
    workers: int = 0,
    desc: str = "FID activations",
) -> np.ndarray:
    """(N, dims) float32 features: model output, spatially averaged when not already 1×1 (as
    pytorch-fid's get_activations), in file order."""
    device = torch.device(device)
    model = model.to(device).eval()
    loader = DataLoader(
        FolderImages(paths, resize), batch_size=batch_size, shuffle=False, num_workers=workers
    )
    chunks = []
    with log.task(desc, total=len(paths)) as progress:
        for batch in loader:
            pred = model(batch.to(device))[0]
            if pred.shape[2:] != (1, 1):
                pred = F.adaptive_avg_pool2d(pred, output_size=(1, 1))
            chunks.append(pred.flatten(1).float().cpu().numpy())
            progress.advance(len(batch))
    return np.concatenate(chunks).astype(np.float32, copy=False)


def folder_activations(
    get_model: Callable[[], torch.nn.Module],
    info: InceptionInfo,
    folder: Path,
    paths: Sequence[Path],
    *,
    resize: tuple[int, int] | None,
    batch_size: int,
    device: torch.device,
    workers: int = 0,
    cache_dir: Path | None = None,
) -> tuple[np.ndarray, bool]:
    """A folder's activations and whether they came from the cache (`cache_dir=None`: no cache);
    `get_model` is only called on a miss."""
    key = None
    if cache_dir is not None:
        key = cache.cache_key(folder, paths, info.tag, resize, info.dims)
        cached = cache.load_activations(cache_dir, key, len(paths), info.dims)
        if cached is not None:
            log.info(f"FID activations of {folder} from the cache ({len(paths)} images)")
            return cached, True
    act = compute_activations(
        get_model(),
        paths,
        resize=resize,
        batch_size=batch_size,
        device=device,
        workers=workers,
        desc=f"FID activations {folder.name}",
    )
    if key is not None:
        cache.save_activations(cache_dir, key, act)
    return act, False
